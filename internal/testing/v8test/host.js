// A proxy-wasm host on V8 for measuring Keycard's module in the engine
// Kong runs it on (ngx_wasm_module links V8 and starts it with
// --no-liftoff --single-threaded, src/wasm/wrt/ngx_wrt_v8.c). It runs
// one request, as internal/wasmhost presents it, through each module in
// turn, and prints one JSON line per module. Its host functions answer
// only what that request needs: it measures, it does not model a
// gateway (the tests of internal/wasmhost, kongtest and envoytest do).
//
// Usage: node --no-liftoff --single-threaded host.js SPEC.json
// (with --cpu-prof, the last line's window is the measured loop's span
// on the profile's clock).
'use strict';
const fs = require('fs');
const { WASI } = require('wasi');

const spec = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const conf = fs.readFileSync(spec.config);
const enc = new TextEncoder();
const kong = spec.gateway === 'kong';

// The proxy-wasm serialized map: a count, the sizes, then each name and
// value NUL-terminated.
function serialize(pairs) {
  const eb = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + 8 * eb.length;
  for (const [k, v] of eb) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, eb.length, true);
  let o = 4;
  for (const [k, v] of eb) { dv.setUint32(o, k.length, true); dv.setUint32(o + 4, v.length, true); o += 8; }
  for (const [k, v] of eb) { out.set(k, o); o += k.length + 1; out.set(v, o); o += v.length + 1; }
  return out;
}
const requestMap = serialize(spec.headers);
const responseMap = serialize([[':status', '200'], ['content-type', 'application/json'], ['content-length', '2']]);
const props = Object.entries(spec.properties).map(([k, v]) => [enc.encode(k), enc.encode(v)]);

const OK = 0, NOT_FOUND = 1;
const REQUEST_HEADERS = 0, RESPONSE_HEADERS = 2, VM_CONFIGURATION = 6, PLUGIN_CONFIGURATION = 7;

function instance(mod) {
  let ex, mem;
  const st = { replies: 0, sets: 0, logs: [] };
  // Views of the module's memory, made again only when it has grown
  // (growing detaches the old buffer).
  let buf, u8, dv;
  const fresh = () => { if (buf !== mem.buffer) { buf = mem.buffer; u8 = new Uint8Array(buf); dv = new DataView(buf); } };
  const bytes = () => { fresh(); return u8; };
  const view = () => { fresh(); return dv; };
  // give hands bytes to the module as hosts do: memory it allocates
  // (proxy_on_memory_allocate), then the pointer and size written back.
  function give(b, ptrOut, sizeOut) {
    const p = ex.proxy_on_memory_allocate(b.length);
    if (p === 0) return 2;
    bytes().set(b, p);
    view().setUint32(ptrOut, p, true);
    view().setUint32(sizeOut, b.length, true);
    return OK;
  }
  function same(p, n, b) {
    if (n !== b.length) return false;
    const m = bytes();
    for (let i = 0; i < n; i++) if (m[p + i] !== b[i]) return false;
    return true;
  }
  let metric = 0;
  const env = {
    proxy_log: (level, p, n) => {
      if (level >= 3) st.logs.push(Buffer.from(bytes().subarray(p, p + n)).toString());
      return OK;
    },
    proxy_get_buffer_bytes: (type, start, max, ptrOut, sizeOut) => {
      if (type !== PLUGIN_CONFIGURATION && type !== VM_CONFIGURATION) return NOT_FOUND;
      return give(conf.subarray(start, start + Math.min(max, conf.length)), ptrOut, sizeOut);
    },
    proxy_get_header_map_pairs: (type, ptrOut, sizeOut) => {
      if (type === REQUEST_HEADERS) return give(requestMap, ptrOut, sizeOut);
      if (type === RESPONSE_HEADERS) return give(responseMap, ptrOut, sizeOut);
      return NOT_FOUND;
    },
    proxy_get_header_map_value: () => NOT_FOUND,
    proxy_replace_header_map_value: () => { st.sets++; return OK; },
    proxy_remove_header_map_value: () => OK,
    proxy_send_local_response: () => { st.replies++; return OK; },
    proxy_continue_stream: () => OK,
    proxy_http_call: () => NOT_FOUND,
    proxy_set_effective_context: () => OK,
    proxy_define_metric: (type, p, n, idOut) => { view().setUint32(idOut, ++metric, true); return OK; },
    proxy_increment_metric: () => OK,
    proxy_set_tick_period_milliseconds: () => OK,
    proxy_get_property: (p, n, ptrOut, sizeOut) => {
      for (const [k, v] of props) if (same(p, n, k)) return give(v, ptrOut, sizeOut);
      return NOT_FOUND;
    },
  };
  const wasi = new WASI({ version: 'preview1', returnOnExit: true });
  const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(mod.file)), { env, wasi_snapshot_preview1: wasi.wasiImport });
  ex = inst.exports;
  mem = ex.memory;
  wasi.initialize(inst);
  const root = 1;
  ex.proxy_on_context_create(root, 0);
  if (!ex.proxy_on_vm_start(root, 0) || !ex.proxy_on_configure(root, conf.length)) {
    throw new Error(`${mod.name}: not configured: ${st.logs.join('; ')}`);
  }
  let next = 2;
  // One request, with the callbacks in the order of internal/wasmhost's
  // finishStream: Kong passes end_of_stream 0 with the headers and calls
  // every response callback; Envoy calls trailers only when there are some.
  function request() {
    const id = next++;
    ex.proxy_on_context_create(id, root);
    ex.proxy_on_request_headers(id, spec.headers.length, kong ? 0 : 1);
    ex.proxy_on_response_headers(id, 3, 0);
    ex.proxy_on_response_body(id, 2, 1);
    if (kong) ex.proxy_on_response_trailers(id, 0);
    ex.proxy_on_done(id);
    ex.proxy_on_log(id);
    ex.proxy_on_delete(id);
  }
  return { mod, st, request };
}

// flush evicts the caches between requests, as a gateway's own work
// does between two requests on one worker: straight-line wasm code
// larger than the instruction caches, then a sweep over data.
function flusher(codeBytes, dataBytes) {
  const reps = Math.ceil(codeBytes / 12); // about 12 bytes of x64 code each
  const body = [0x01, 0x01, 0x7f]; // one i32 local
  for (let i = 0; i < reps; i++) body.push(0x20, 0x01, 0x41, i & 0x3f, 0x6a, 0x21, 0x01); // local += k
  body.push(0x20, 0x01, 0x0b);
  const leb = (n) => { const o = []; do { let b = n & 0x7f; n >>>= 7; if (n) b |= 0x80; o.push(b); } while (n); return o; };
  const code = [...leb(body.length), ...body];
  const wasm = [0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    1, 6, 1, 0x60, 1, 0x7f, 1, 0x7f, // type: (i32) -> i32
    3, 2, 1, 0, // one function
    7, 5, 1, 1, 0x66, 0x00, 0x00, // export "f"
    10, ...leb(code.length + 1), 1, ...code];
  const f = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array(wasm))).exports.f;
  const data = new Int32Array(dataBytes >> 2);
  return () => { f(1); for (let i = 0; i < data.length; i += 16) data[i]++; };
}

const hosts = spec.modules.map(instance);
for (let i = 0; i < spec.warm; i++) for (const h of hosts) h.request();
for (const h of hosts) {
  if (h.st.replies) throw new Error(`${h.mod.name}: ${h.st.replies} requests answered by the module: ${h.st.logs.join('; ')}`);
  h.st.sets = 0;
}
const now = process.hrtime.bigint;
const samples = hosts.map(() => []);
let span = null; // the measured loop, for a profile: µs of the monotonic clock
if (spec.cold) {
  const flush = flusher(spec.flushCode, spec.flushData);
  for (let r = 0; r < spec.requests; r++) {
    for (let k = 0; k < hosts.length; k++) {
      flush();
      const t0 = now();
      hosts[k].request();
      samples[k].push(Number(now() - t0));
    }
  }
} else {
  // Hot: batches, the modules in turn, so that drift touches all alike.
  const batch = 250;
  const run = () => {
    for (let r = 0; r < spec.requests / batch; r++) {
      for (let k = 0; k < hosts.length; k++) {
        const t0 = now();
        for (let i = 0; i < batch; i++) hosts[k].request();
        samples[k].push(Number(now() - t0) / batch);
      }
    }
  };
  const t0 = now();
  run();
  span = [Number(t0 / 1000n), Number(now() / 1000n)];
}
for (let k = 0; k < hosts.length; k++) {
  // In measuring order: the i-th sample of each module is of one round.
  console.log(JSON.stringify({ name: hosts[k].mod.name, samples: samples[k], sets: hosts[k].st.sets, requests: spec.requests }));
}
console.log(JSON.stringify({ v8: process.versions.v8, node: process.version, span }));
