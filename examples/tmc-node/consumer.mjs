// A TMC (Taobao Message Channel) consumer written from docs/tmc.md with
// the ws package only: it shares no code with servicecenterd. It opens the
// WebSocket, sends the signed CONNECT, waits for the CONNECTACK's token,
// sends pull requests, and confirms every data message it receives,
// printing each as one JSON line on stdout.
//
// Settings (environment):
//   TMC_URL         ws://127.0.0.1:8800/ (the emulator's endpoint)
//   TMC_APP_KEY     emulator
//   TMC_APP_SECRET  emulator-secret
//   TMC_GROUP       default
//   TMC_COUNT       stop after this many messages (0: run until killed)
//   TMC_TIMEOUT_MS  give up after this long (0: never)
//
//   node consumer.mjs
import { createHash } from 'node:crypto';
import WebSocket from 'ws';

const url = process.env.TMC_URL || 'ws://127.0.0.1:8800/';
const appKey = process.env.TMC_APP_KEY || 'emulator';
const appSecret = process.env.TMC_APP_SECRET || 'emulator-secret';
const group = process.env.TMC_GROUP || 'default';
const count = Number(process.env.TMC_COUNT || 0);
const timeoutMs = Number(process.env.TMC_TIMEOUT_MS || 0);

// Frame layout: u8 version, u8 type, then headers (i16 type + payload),
// ended by header 0. Little-endian throughout.
const CONNECT = 0, CONNECTACK = 1, SEND = 2;
const H_END = 0, H_CUSTOM = 1, H_STATUS_CODE = 2, H_STATUS_PHRASE = 3, H_FLAG = 4, H_TOKEN = 5;
const F_VOID = 0, F_STRING = 1, F_BYTE = 2, F_INT16 = 3, F_INT32 = 4, F_INT64 = 5, F_DATE = 6, F_BYTES = 7;
const KIND_PULL = 1, KIND_CONFIRM = 2, KIND_DATA = 3;

function counted(s) {
  const b = Buffer.from(s ?? '', 'utf8');
  const n = Buffer.alloc(4);
  n.writeInt32LE(b.length);
  return Buffer.concat([n, b]);
}

function i16(v) { const b = Buffer.alloc(2); b.writeInt16LE(v); return b; }
function i32(v) { const b = Buffer.alloc(4); b.writeInt32LE(v); return b; }

// encode builds a frame; custom is a list of [name, format, value].
function encode(type, { flag = 0, token = '', custom = [] } = {}) {
  const parts = [Buffer.from([2, type])];
  if (flag > 0) parts.push(i16(H_FLAG), i32(flag));
  if (token) parts.push(i16(H_TOKEN), counted(token));
  for (const [name, format, value] of custom) {
    parts.push(i16(H_CUSTOM), counted(name), Buffer.from([format]));
    if (format === F_STRING) parts.push(counted(value));
    else if (format === F_BYTE) { const b = Buffer.alloc(1); b.writeInt8(value); parts.push(b); }
    else if (format === F_INT64) { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(value)); parts.push(b); }
    else throw new Error(`cannot encode format ${format}`);
  }
  parts.push(i16(H_END));
  return Buffer.concat(parts);
}

function decode(buf) {
  let off = 0;
  const need = (n) => { if (off + n > buf.length) throw new Error('truncated frame'); };
  const readCounted = () => {
    need(4); const n = buf.readInt32LE(off); off += 4;
    if (n <= 0) return null;
    need(n); const s = buf.toString('utf8', off, off + n); off += n; return s;
  };
  need(2);
  const msg = { version: buf[0], type: buf[1], statusCode: 0, statusPhrase: null, flag: 0, token: null, headers: {} };
  off = 2;
  for (;;) {
    need(2); const h = buf.readInt16LE(off); off += 2;
    if (h === H_END) break;
    if (h === H_CUSTOM) {
      const name = readCounted();
      need(1); const format = buf[off]; off += 1;
      let value;
      switch (format) {
        case F_VOID: value = null; break;
        case F_STRING: value = readCounted(); break;
        case F_BYTE: need(1); value = buf.readInt8(off); off += 1; break;
        case F_INT16: need(2); value = buf.readInt16LE(off); off += 2; break;
        case F_INT32: need(4); value = buf.readInt32LE(off); off += 4; break;
        case F_INT64: need(8); value = buf.readBigInt64LE(off); off += 8; break;
        case F_DATE: need(8); value = new Date(Number(buf.readBigInt64LE(off))); off += 8; break;
        case F_BYTES: { need(4); const n = buf.readInt32LE(off); off += 4; need(n); value = buf.subarray(off, off + n); off += n; break; }
        default: throw new Error(`unknown value format ${format}`);
      }
      msg.headers[name] = value;
    } else if (h === H_STATUS_CODE) { need(4); msg.statusCode = buf.readInt32LE(off); off += 4; }
    else if (h === H_STATUS_PHRASE) msg.statusPhrase = readCounted();
    else if (h === H_FLAG) { need(4); msg.flag = buf.readInt32LE(off); off += 4; }
    else if (h === H_TOKEN) msg.token = readCounted();
    else throw new Error(`unknown header type ${h}`);
  }
  return msg;
}

// sign: MD5 over secret + app_key… group_name… timestamp… + secret, upper hex.
function sign(timestamp) {
  const s = `${appSecret}app_key${appKey}group_name${group}timestamp${timestamp}${appSecret}`;
  return createHash('md5').update(s, 'utf8').digest('hex').toUpperCase();
}

const ws = new WebSocket(url);
let token = null;
let received = 0;
let pullTimer = null;

function finish(code) {
  clearInterval(pullTimer);
  ws.close(1000, 'done');
  setTimeout(() => process.exit(code), 100).unref();
}

if (timeoutMs > 0) {
  setTimeout(() => { console.error(`timed out after ${timeoutMs} ms with ${received} messages`); finish(2); }, timeoutMs).unref();
}

ws.on('open', () => {
  const timestamp = String(Date.now());
  ws.send(encode(CONNECT, {
    flag: 1,
    custom: [
      ['app_key', F_STRING, appKey],
      ['group_name', F_STRING, group],
      ['timestamp', F_STRING, timestamp],
      ['sign', F_STRING, sign(timestamp)],
      ['sdk', F_STRING, 'tmc-node-example'],
    ],
  }));
});

ws.on('message', (data, isBinary) => {
  if (!isBinary) return; // TMC is binary only
  const msg = decode(data);
  if (msg.type === CONNECTACK) {
    if (msg.statusCode > 0 || msg.statusPhrase || !msg.token) {
      console.error(`CONNECT refused: ${msg.statusCode} ${msg.statusPhrase}`);
      finish(1);
      return;
    }
    token = msg.token;
    const pull = () => ws.send(encode(SEND, { token, custom: [['__kind', F_BYTE, KIND_PULL]] }));
    pull();
    pullTimer = setInterval(pull, 5000);
    return;
  }
  if (msg.type !== SEND || msg.headers.__kind !== KIND_DATA || msg.token !== token) return;
  const h = msg.headers;
  console.log(JSON.stringify({
    id: h.id.toString(),
    topic: h.topic,
    content: Buffer.isBuffer(h.content) ? h.content.toString('utf8') : h.content,
    time: h.time instanceof Date ? h.time.toISOString() : null,
    publisher: h.publisher,
    retried: h.retried,
  }));
  ws.send(encode(SEND, { token, custom: [['__kind', F_BYTE, KIND_CONFIRM], ['id', F_INT64, h.id]] }));
  received++;
  if (count > 0 && received >= count) finish(0);
});

ws.on('error', (err) => { console.error(`websocket error: ${err.message}`); finish(1); });
ws.on('close', () => { if (count === 0 || received < count) { console.error('connection closed'); process.exit(1); } });
