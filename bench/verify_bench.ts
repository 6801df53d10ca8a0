/**
 * Raw signature verification rates, per algorithm and path:
 *
 * - `reference (noble)`: the synchronous @noble/curves path every verdict is
 *   defined by;
 * - `WebCrypto raw`: `crypto.subtle.verify` alone, key imported once,
 *   awaited one at a time (Ed25519 and P-256 only);
 * - `verifySignature`: the SDK's public function (fast path with pre-checks
 *   and key cache, reference fallback), awaited one at a time;
 * - concurrent batches of WebCrypto Ed25519 and P-256 verifications, with the
 *   process CPU time they used, to see whether WebCrypto spreads over
 *   several cores (cores used ≈ CPU time ÷ wall time), and the same batch
 *   through `verifySignature`.
 *
 * Every rate is the median of 5 timed runs. Run it alone with
 * `npx -y deno@2.9.6 run -A bench/verify_bench.ts`; the bench driver
 * (`bench/main.ts`) imports {@link runVerifyBench}.
 *
 * @module
 */

import process from "node:process";
import type { Algorithm } from "../sdk/did_key.ts";
import { generateKeyPair, type KeyPair, signSync } from "../sdk/keys.ts";
import { verifySignature, verifySignatureReference } from "../sdk/signature.ts";
import { verifyEd25519Native } from "../src/site/native_ed25519.ts";
import { p256 } from "@noble/curves/nist.js";

/** Distinct (key, message, signature) triples cycled through per algorithm. */
const SAMPLES = 64;
/** Timed runs per measure; the median is reported. */
const RUNS = 5;
/** Target duration of one timed run. */
const RUN_MS = 200;
/** Verifications in flight at once in the concurrency measure. */
const BATCH_SIZE = 2_000;

interface Sample {
  kp: KeyPair;
  msg: Uint8Array<ArrayBuffer>;
  sig: Uint8Array<ArrayBuffer>;
}

function samples(alg: Algorithm): Sample[] {
  return Array.from({ length: SAMPLES }, (_, i) => {
    const kp = generateKeyPair(alg);
    const msg = crypto.getRandomValues(new Uint8Array(100 + i));
    return { kp, msg, sig: new Uint8Array(signSync(kp, msg)) };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs `op` repeatedly for about RUN_MS, RUNS times; median verifications/s. */
async function rate(op: (i: number) => boolean | Promise<boolean>): Promise<number> {
  // Warm up (JIT, key caches).
  for (let i = 0; i < SAMPLES; i++) {
    if (!await op(i)) throw new Error("Cannot benchmark: a valid signature did not verify");
  }
  const rates: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    let n = 0;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < RUN_MS) {
      for (let j = 0; j < 32; j++, n++) {
        if (!await op(n)) throw new Error("Cannot benchmark: a valid signature did not verify");
      }
      elapsed = performance.now() - start;
    }
    rates.push((n / elapsed) * 1000);
  }
  return median(rates);
}

/** Process CPU time (user + system) in ms. */
function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

async function importKeys(alg: "ed25519" | "p256", ss: Sample[]): Promise<CryptoKey[]> {
  return await Promise.all(
    ss.map(({ kp }) =>
      alg === "ed25519"
        ? crypto.subtle.importKey("raw", new Uint8Array(kp.publicKey), "Ed25519", false, ["verify"])
        : crypto.subtle.importKey(
          "raw",
          new Uint8Array(p256.Point.fromBytes(kp.publicKey).toBytes(false)),
          { name: "ECDSA", namedCurve: "P-256" },
          false,
          ["verify"],
        )
    ),
  );
}

/**
 * Measures and returns verification rates (verifications per second, median
 * of 5 runs) and the cores used by a concurrent WebCrypto Ed25519 batch.
 * Keys name the algorithm and path; `verifySignature` entries are the SDK's
 * public function. Takes roughly 15–25 s.
 *
 * @example
 * ```ts
 * const rates = await runVerifyBench();
 * rates["ed25519 verifySignature verifications/s"];
 * ```
 */
export async function runVerifyBench(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  const ed = samples("ed25519");
  const p = samples("p256");
  const k = samples("secp256k1");
  const edKeys = await importKeys("ed25519", ed);
  const pKeys = await importKeys("p256", p);
  const ecdsa = { name: "ECDSA", hash: "SHA-256" };

  // The SDK's own function first: bench/main.ts prefers these names.
  out["ed25519 verifySignature verifications/s"] = await rate((i) => {
    const s = ed[i % SAMPLES];
    return verifySignature("ed25519", s.kp.publicKey, s.msg, s.sig);
  });
  out["p256 verifySignature verifications/s"] = await rate((i) => {
    const s = p[i % SAMPLES];
    return verifySignature("p256", s.kp.publicKey, s.msg, s.sig);
  });
  out["secp256k1 verifySignature verifications/s"] = await rate((i) => {
    const s = k[i % SAMPLES];
    return verifySignature("secp256k1", s.kp.publicKey, s.msg, s.sig);
  });

  out["ed25519 WebCrypto raw verifications/s"] = await rate((i) => {
    const s = ed[i % SAMPLES];
    return crypto.subtle.verify("Ed25519", edKeys[i % SAMPLES], s.sig, s.msg);
  });
  out["p256 WebCrypto raw verifications/s"] = await rate((i) => {
    const s = p[i % SAMPLES];
    return crypto.subtle.verify(ecdsa, pKeys[i % SAMPLES], s.sig, s.msg);
  });

  // What a site runs for Ed25519 (admission in its admission workers, peer
  // requests, checkpoint lines): node:crypto, synchronous, on one core.
  out["ed25519 site native (node:crypto) verifications/s"] = await rate((i) => {
    const s = ed[i % SAMPLES];
    return verifyEd25519Native(s.kp.publicKey, s.msg, s.sig);
  });

  out["ed25519 reference (noble) verifications/s"] = await rate((i) => {
    const s = ed[i % SAMPLES];
    return verifySignatureReference("ed25519", s.kp.publicKey, s.msg, s.sig);
  });
  out["p256 reference (noble) verifications/s"] = await rate((i) => {
    const s = p[i % SAMPLES];
    return verifySignatureReference("p256", s.kp.publicKey, s.msg, s.sig);
  });
  out["secp256k1 reference (noble) verifications/s"] = await rate((i) => {
    const s = k[i % SAMPLES];
    return verifySignatureReference("secp256k1", s.kp.publicKey, s.msg, s.sig);
  });

  // Concurrency: BATCH_SIZE verifications in flight at once. If WebCrypto ran
  // them on a thread pool, CPU time would exceed wall time.
  for (const [alg, keys, ss] of [["Ed25519", edKeys, ed], ["P-256", pKeys, p]] as const) {
    const walls: number[] = [];
    const cores: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const cpu0 = cpuMs();
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: BATCH_SIZE }, (_, i) => {
          const s = ss[i % SAMPLES];
          return alg === "Ed25519"
            ? crypto.subtle.verify("Ed25519", keys[i % SAMPLES], s.sig, s.msg)
            : crypto.subtle.verify(ecdsa, keys[i % SAMPLES], s.sig, s.msg);
        }),
      );
      const wall = performance.now() - t0;
      const cpu = cpuMs() - cpu0;
      if (!results.every(Boolean)) {
        throw new Error("Cannot benchmark: a valid signature did not verify");
      }
      walls.push(wall);
      cores.push(cpu / wall);
    }
    out[`${alg} concurrent batch of ${BATCH_SIZE} (WebCrypto) verifications/s`] = (BATCH_SIZE /
      median(walls)) * 1000;
    out[`${alg} concurrent batch cores used (cpu/wall)`] = median(cores);
  }
  // The SDK function under the same concurrency (how a site admits a batch).
  for (const [alg, ss] of [["ed25519", ed], ["p256", p]] as const) {
    const walls: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      const results = await Promise.all(
        Array.from({ length: BATCH_SIZE }, (_, i) => {
          const s = ss[i % SAMPLES];
          return verifySignature(alg, s.kp.publicKey, s.msg, s.sig);
        }),
      );
      walls.push(performance.now() - t0);
      if (!results.every(Boolean)) {
        throw new Error("Cannot benchmark: a valid signature did not verify");
      }
    }
    out[`${alg} verifySignature concurrent batch of ${BATCH_SIZE} verifications/s`] = (BATCH_SIZE /
      median(walls)) * 1000;
  }
  out["machine cores (navigator.hardwareConcurrency)"] = navigator.hardwareConcurrency ?? NaN;
  return out;
}

if (import.meta.main) {
  const results = await runVerifyBench();
  const width = Math.max(...Object.keys(results).map((k) => k.length));
  for (const [name, value] of Object.entries(results)) {
    const shown = value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(2);
    console.log(`${name.padEnd(width)}  ${shown}`);
  }
}
