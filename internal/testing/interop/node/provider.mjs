// A real OpenID provider for Keycard's interop tests: oidc-provider
// (OpenID Certified) over https on loopback, issuing RFC 9068 JWT access
// tokens to a client-credentials client. Usage: node provider.mjs
// CONFIG.json, where the configuration names the issuer, the port, the
// TLS certificate and key files, the signing keys (private JWKs, the
// first of each alg signs) and the resources: for each resource
// indicator, its audience, signing alg and extra claims. Prints "ready"
// once it listens.
import fs from 'node:fs';
import https from 'node:https';
import Provider from 'oidc-provider';

const conf = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const resources = conf.resources;

const provider = new Provider(conf.issuer, {
  clients: [{
    client_id: conf.client_id,
    client_secret: conf.client_secret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: conf.keys },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => Object.keys(resources)[0],
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        const r = resources[indicator];
        if (!r) throw new Error(`unknown resource ${indicator}`);
        return { scope: 'api', audience: r.audience, accessTokenFormat: 'jwt', accessTokenTTL: 3600, jwt: { sign: { alg: r.alg } } };
      },
    },
  },
  extraTokenClaims: (ctx, token) => {
    const r = resources[token.resourceServer?.identifier?.() ?? ''] ?? resources[Object.keys(resources)[0]];
    return r.claims ?? {};
  },
});

https.createServer({ cert: fs.readFileSync(conf.cert), key: fs.readFileSync(conf.key) }, provider.callback())
  .listen(conf.port, '127.0.0.1', () => console.log('ready'));
