// Independent re-implementation of vLLM's prefix-cache block hashing with sha256_cbor
// (vllm/v1/core/kv_cache_utils.py: init_none_hash, hash_block_tokens, generate_block_hash_extra_keys;
// vllm/utils/hashing.py: sha256_cbor = sha256(cbor2.dumps(obj, canonical=True))).
// Run: npm ci && npm run vectors   (writes vllm-sha256-cbor-vectors.json)
import { createHash } from 'node:crypto';
import cbor from 'cbor';

const sha256Cbor = (value) => createHash('sha256').update(cbor.encodeCanonical(value)).digest();

// NONE_HASH = sha256_cbor(PYTHONHASHSEED) when the seed is set.
const noneHash = (seed) => sha256Cbor(seed);

// extra_keys = lora + mm + [cache_salt if first block] ; None when empty.
function extraKeysFor(blockIndex, userExtras, cacheSalt) {
  const keys = [...(userExtras[blockIndex] ?? [])];
  if (blockIndex === 0 && cacheSalt) keys.push(cacheSalt);
  return keys.length === 0 ? null : keys;
}

function chain({ seed, cacheSalt, blockSize, tokens, extraKeysPerBlock }) {
  let parent = noneHash(seed);
  const digests = [];
  const fullBlocks = Math.floor(tokens.length / blockSize);
  for (let i = 0; i < fullBlocks; i++) {
    const blockTokens = tokens.slice(i * blockSize, (i + 1) * blockSize);
    parent = sha256Cbor([parent, blockTokens, extraKeysFor(i, extraKeysPerBlock, cacheSalt)]);
    digests.push(parent.toString('hex'));
  }
  return digests;
}

// Deterministic token ids covering every CBOR integer width (<24, <256, <65536, >=65536).
function tokenStream(count, seed) {
  const out = [];
  let x = seed >>> 0;
  const widths = [23, 255, 65535, 151935];
  for (let i = 0; i < count; i++) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    out.push(x % (widths[i % widths.length] + 1));
  }
  return out;
}

const cases = [
  { name: 'seed 0, no salt, 16-token blocks, partial tail', seed: '0', cacheSalt: null, blockSize: 16, tokens: tokenStream(16 * 3 + 5, 1), extraKeysPerBlock: [] },
  { name: 'seed 0, cache salt, 16-token blocks', seed: '0', cacheSalt: 'tenant-a-secret', blockSize: 16, tokens: tokenStream(32, 2), extraKeysPerBlock: [] },
  { name: 'seed 42, lora and multimodal extra keys plus salt', seed: '42', cacheSalt: 'salt', blockSize: 8, tokens: tokenStream(24, 3),
    extraKeysPerBlock: [['my-lora'], ['my-lora', ['img-1', 8]], ['my-lora']] },
  { name: 'long seed, 4-token blocks, large ids', seed: 'kvtier-vectors', cacheSalt: null, blockSize: 4, tokens: [0, 23, 24, 255, 256, 65535, 65536, 151935, 1, 2, 3, 4, 100000, 99999, 7, 65535], extraKeysPerBlock: [] },
  { name: 'vLLM default 16-token block of small ids', seed: '0', cacheSalt: null, blockSize: 16, tokens: Array.from({ length: 16 }, (_, i) => i), extraKeysPerBlock: [] },
];

const out = cases.map((c) => {
  const digests = chain(c);
  return {
    ...c,
    noneHash: noneHash(c.seed).toString('hex'),
    digests,
    // vLLM's integer form in KV events: int.from_bytes(digest, "big") & (2**64 - 1).
    eventHashes: digests.map((d) => BigInt('0x' + d.slice(-16)).toString()),
  };
});
process.stdout.write(JSON.stringify({ generator: 'make-vllm-vectors.mjs (node crypto + cbor@10.0.12)', cases: out }, null, 2) + '\n');
