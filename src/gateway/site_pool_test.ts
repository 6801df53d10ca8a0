import assert from "node:assert/strict";
import { type Candidate, chooseSite } from "./site_pool.ts";

const site = (over: Partial<Candidate> = {}): Candidate => ({
  up: true,
  preferred: false,
  inFlight: 0,
  leader: false,
  ...over,
});
const none = () => false;

Deno.test("chooseSite() answers -1 when every site is down or already tried", () => {
  assert.equal(chooseSite([site({ up: false }), site({ up: false })], none, false, 0), -1);
  assert.equal(chooseSite([site(), site({ up: false })], (i) => i === 0, false, 0), -1);
  assert.equal(chooseSite([], none, false, 0), -1);
});

Deno.test("chooseSite() picks the site with the fewest requests in flight", () => {
  const sites = [site({ inFlight: 3 }), site({ inFlight: 1 }), site({ inFlight: 2 })];
  assert.equal(chooseSite(sites, none, false, 0), 1);
  assert.equal(chooseSite(sites, (i) => i === 1, false, 0), 2);
});

Deno.test("chooseSite() breaks ties round robin from the cursor", () => {
  const sites = [site(), site(), site({ inFlight: 5 }), site()];
  const picks: number[] = [];
  let cursor = 0;
  for (let k = 0; k < 5; k++) {
    const i = chooseSite(sites, none, false, cursor);
    picks.push(i);
    cursor = (i + 1) % sites.length;
  }
  assert.deepEqual(picks, [0, 1, 3, 0, 1]);
});

Deno.test("chooseSite() keeps to the preferred sites while one is up, however busy", () => {
  const sites = [site({ inFlight: 0 }), site({ preferred: true, inFlight: 9 })];
  assert.equal(chooseSite(sites, none, false, 0), 1);
  assert.equal(chooseSite(sites, (i) => i === 1, false, 0), 0);
  sites[1].up = false;
  assert.equal(chooseSite(sites, none, false, 0), 0);
});

Deno.test("chooseSite() sends leader reads to the leader when it is up and untried", () => {
  const sites = [site(), site({ leader: true, inFlight: 4 }), site({ preferred: true })];
  assert.equal(chooseSite(sites, none, true, 0), 1);
  assert.equal(chooseSite(sites, none, false, 0), 2);
  assert.equal(chooseSite(sites, (i) => i === 1, true, 0), 2);
});
