/**
 * An admission worker whose module cannot load (as one that may not read a
 * file it imports): for the pool's start-failure test.
 *
 * @module
 */
/// <reference lib="deno.worker" />
throw new Error("this admission worker cannot load");
