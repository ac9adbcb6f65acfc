// Mints tokens with jose (an independent JOSE implementation) for every
// algorithm Keycard supports, in valid and invalid variants, and says how
// jose.jwtVerify decides each one. Keycard's interop tests decide the
// same tokens and compare. Output: one JSON document on stdout.
import * as jose from 'jose';

const audience = 'keycard-api';
const now = Math.floor(Date.now() / 1000);
const algs = ['HS256', 'HS384', 'HS512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

async function keyPair(alg) {
  if (alg.startsWith('HS')) {
    // Random bytes of the hash's size whose last is a line feed: Keycard
    // must take a secret file's bytes exactly.
    const secret = crypto.getRandomValues(new Uint8Array(Number(alg.slice(2)) / 8));
    secret[secret.length - 1] = 0x0a;
    return { sign: secret, verify: secret };
  }
  const opts = { extractable: true };
  if (alg === 'EdDSA') opts.crv = 'Ed25519';
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, opts);
  return { sign: privateKey, verify: publicKey };
}

function b64url(buf) { return Buffer.from(buf).toString('base64url'); }

async function main() {
  const issuers = [];
  const tokens = [];
  for (const alg of algs) {
    const iss = `https://jose.test/${alg}`;
    const kid = `${alg}-1`;
    const k = await keyPair(alg);
    const other = await keyPair(alg);
    const issuer = { alg, iss, kid };
    let jwks;
    if (alg.startsWith('HS')) {
      issuer.secret = b64url(k.verify);
      jwks = null;
    } else {
      const jwk = await jose.exportJWK(k.verify);
      Object.assign(jwk, { kid, alg, use: 'sig' });
      issuer.jwk = jwk;
      issuer.pem = await jose.exportSPKI(k.verify);
      jwks = jose.createLocalJWKSet({ keys: [jwk] });
    }
    issuers.push(issuer);

    const base = () => ({ iss, aud: audience, sub: `user-${alg}`, level: 1, iat: now, exp: now + 3600 });
    const sign = async (claims, header = {}, key = k.sign) => {
      const jwt = new jose.SignJWT(claims).setProtectedHeader({ alg, kid, ...header });
      return jwt.sign(key);
    };
    const variants = [];
    const add = (name, token, note) => variants.push({ name, token, note });
    add('valid', await sign(base()));
    add('unicode subject', await sign({ ...base(), sub: `ユーザー-ü-${alg}` }));
    add('aud in a list', await sign({ ...base(), aud: ['other-api', audience] }));
    add('aud of another API', await sign({ ...base(), aud: 'other-api' }));
    add('no aud', await sign((({ aud, ...c }) => c)(base())));
    add('iss of another issuer', await sign({ ...base(), iss: 'https://elsewhere.test' }));
    add('iss with a trailing slash', await sign({ ...base(), iss: iss + '/' }));
    add('expired', await sign({ ...base(), iat: now - 7200, exp: now - 3600 }));
    add('not yet valid', await sign({ ...base(), nbf: now + 3600 }));
    add('no exp', await sign((({ exp, ...c }) => c)(base())));
    add('fractional exp', await sign({ ...base(), exp: now + 3600.25 }));
    add('exp as a string', await sign({ ...base(), exp: String(now + 3600) }));
    add('typ at+jwt', await sign(base(), { typ: 'at+jwt' }));
    add('signed by another key', await sign(base(), {}, other.sign));
    const good = await sign(base());
    const [h, p, s] = good.split('.');
    add('tampered payload', `${h}.${b64url(JSON.stringify({ ...base(), level: 2 }))}.${s}`);
    add('tampered signature', `${h}.${p}.${(s[0] === 'A' ? 'B' : 'A') + s.slice(1)}`);
    add('alg none', new jose.UnsecuredJWT(base()).encode());
    const groups = Array.from({ length: 200 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    add('large (200 group ids)', await sign({ ...base(), groups }));
    if (!alg.startsWith('HS')) add('unknown kid', await sign(base(), { kid: 'not-published' }));

    for (const v of variants) {
      const opts = { issuer: iss, audience, algorithms: [alg], requiredClaims: ['exp'] };
      const verdict = async (key) => {
        try {
          await jose.jwtVerify(v.token, key, opts);
          return 'ok';
        } catch (e) {
          return e.code || e.name || String(e);
        }
      };
      // With the key itself (a PEM or a secret: kid is not looked at) and
      // with the key set (a key is chosen by kid and alg).
      const t = { alg, name: v.name, token: v.token, jose_key: await verdict(k.verify) };
      t.jose_jwks = jwks ? await verdict(jwks) : t.jose_key;
      tokens.push(t);
    }
  }
  process.stdout.write(JSON.stringify({ now, audience, jose: jose.cryptoRuntime ?? 'node', issuers, tokens }));
}

main().catch((e) => { console.error(e); process.exit(1); });
