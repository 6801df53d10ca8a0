/**
 * The admission worker, loading only after a pause of `?loadMs=` ms given in
 * its URL (as one whose modules come from a slow disk): for the pool's
 * ready() tests.
 *
 * @module
 */
/// <reference lib="deno.worker" />
const loadMs = Number(new URL(import.meta.url).searchParams.get("loadMs") ?? "0");
await new Promise((resolve) => setTimeout(resolve, loadMs));
await import("../admission_worker_main.ts");
