// Reconcile the replica set toward the planned config document (mongosh script, run by the init Job).
//
// Idempotent: a set that already matches is left alone. A new set is initiated with the whole
// document. An existing set is moved one step at a time, because MongoDB accepts at most one voting
// change per reconfig (https://www.mongodb.com/docs/manual/reference/method/rs.reconfig/):
//   1. add missing members as non-voting (votes 0, priority 0) and drop non-voting members no longer
//      planned (neither is a voting change, so all in one reconfig);
//   2. change the votes of ONE member (a member leaving the plan first goes to votes 0);
//   3. set priorities and tags, and remove members already at votes 0 that left the plan.
// Members keep the _id they have (matched by host); new members get the smallest free _id.
// `nextConfig` is pure and exported, so tests run it with node (tests/test_database_script.py).

function clone(value) {
  return JSON.parse(JSON.stringify(value));
}

function sameTags(a, b) {
  return JSON.stringify(a || {}) === JSON.stringify(b || {});
}

function nextConfig(current, desired) {
  const want = new Map(desired.members.map((m) => [m.host, m]));
  const have = new Map(current.members.map((m) => [m.host, m]));
  const used = new Set(current.members.map((m) => m._id));
  let candidate = 0;
  const freeId = () => {
    while (used.has(candidate)) candidate += 1;
    used.add(candidate);
    return candidate;
  };
  const next = clone(current);
  next.version = (current.version || 1) + 1;
  const votesOf = (m) => (m.votes === undefined ? 1 : m.votes);

  // Step 1: non-voting additions and removals.
  let changed = false;
  next.members = next.members.filter((m) => {
    const keep = want.has(m.host) || votesOf(m) > 0;
    if (!keep) changed = true;
    return keep;
  });
  for (const m of desired.members) {
    if (!have.has(m.host)) {
      next.members.push({ _id: freeId(), host: m.host, votes: 0, priority: 0, tags: m.tags || {} });
      changed = true;
    }
  }
  if (changed) return next;

  // Step 2: one voting change.
  for (const m of next.members) {
    const target = want.has(m.host) ? want.get(m.host).votes : 0;
    if (votesOf(m) !== target) {
      m.votes = target;
      m.priority = target === 0 ? 0 : want.get(m.host).priority;
      return next;
    }
  }

  // Step 3: priorities, tags, and members already demoted that leave the plan.
  const before = next.members.length;
  next.members = next.members.filter((m) => want.has(m.host));
  changed = next.members.length !== before;
  for (const m of next.members) {
    const target = want.get(m.host);
    const priority = m.priority === undefined ? 1 : m.priority;
    if (priority !== target.priority || !sameTags(m.tags, target.tags)) {
      m.priority = target.priority;
      m.tags = target.tags || {};
      changed = true;
    }
  }
  return changed ? next : null;
}

function sleepSeconds(seconds) {
  sleep(seconds * 1000); // mongosh built-in
}

function waitFor(what, test, seconds) {
  for (let i = 0; i < seconds / 5; i += 1) {
    try {
      if (test()) return;
    } catch (err) {
      print(`waiting for ${what}: ${err.message}`);
    }
    sleepSeconds(5);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function main() {
  const fs = require("fs");
  const desired = JSON.parse(fs.readFileSync(process.env.DESIRED_CONFIG, "utf8"));
  let initiated = true;
  try {
    rs.status();
  } catch (err) {
    if (err.codeName !== "NotYetInitialized") throw err;
    initiated = false;
  }
  if (!initiated) {
    print(`initiating ${desired._id} with ${desired.members.length} members`);
    rs.initiate(desired);
  }
  waitFor("a primary", () => rs.status().members.some((m) => m.stateStr === "PRIMARY"), 900);
  for (;;) {
    const step = nextConfig(rs.conf(), desired);
    if (step === null) break;
    print(`reconfig to version ${step.version}`);
    rs.reconfig(step);
    waitFor("the new config to commit", () =>
      db.adminCommand({ replSetGetConfig: 1, commitmentStatus: true }).commitmentStatus, 600);
  }
  const admin = db.getSiblingDB("admin");
  if (admin.getUser(process.env.ADMIN_USER) === null) {
    admin.createUser({ user: process.env.ADMIN_USER, pwd: process.env.ADMIN_PASSWORD, roles: ["root"] });
    print(`created user ${process.env.ADMIN_USER}`);
  }
  print("replica set matches the plan");
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { nextConfig };
}
if (typeof rs !== "undefined") {
  main();
}
