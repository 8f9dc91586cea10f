// Reconcile the replica set toward the planned document (mongosh script, run by the reconcile Job).
//
// Every run reads the set as it is (rs.conf(), rs.status()) and takes ONE step, then reads again, so
// a run that crashes at any point is simply run again: each step is decided from the live state, never
// from memory of an earlier run. The steps, in the order they are taken:
//   1. structure, no voting change: add missing members as non-voting (votes 0, priority 0, so a
//      syncing member never counts toward the write majority), drop non-voting members that left the
//      plan (one reconfig may carry several non-voting changes);
//   2. ONE voting change per reconfig (https://www.mongodb.com/docs/manual/reference/method/rs.reconfig/):
//      demote an unreachable leaving member; grant the vote (and priority) to a member only once it is
//      SECONDARY and caught up (within maxLagSeconds of the primary); demote a reachable leaving member;
//      a leaving PRIMARY is first stepped down (rs.stepDown) so another member takes over, since a
//      primary cannot remove itself. Every voting change must leave a majority of the voters healthy,
//      and never more than 7 voters; a change that would not waits;
//   3. priorities and tags of voting members (stepping the primary down first if it would lose its
//      priority), then done.
// Members keep the _id they have (matched by host); new members get the smallest free _id.
// `planStep` and `reconcile` are pure of mongosh and exported: tests drive them with a fake replica set
// under node (tests/fake_replica_set.js, tests/test_database_script.py).

const MAX_VOTING = 7;

function clone(value) {
  return JSON.parse(JSON.stringify(value));
}

function votesOf(m) {
  return m.votes === undefined ? 1 : m.votes;
}

function priorityOf(m) {
  return m.priority === undefined ? 1 : m.priority;
}

function sameTags(a, b) {
  const keys = (o) => Object.keys(o || {}).sort();
  const ka = keys(a);
  return JSON.stringify(ka) === JSON.stringify(keys(b)) && ka.every((k) => a[k] === b[k]);
}

function millis(value) {
  return value === undefined || value === null ? 0 : new Date(value).getTime();
}

// What the set looks like from rs.status(): states by host, the primary, how far each one lags.
function view(status) {
  const byHost = new Map((status.members || []).map((m) => [m.name, m]));
  const primary = (status.members || []).find((m) => m.stateStr === "PRIMARY");
  const healthy = (host) => {
    const m = byHost.get(host);
    return Boolean(m) && m.health !== 0 && (m.stateStr === "PRIMARY" || m.stateStr === "SECONDARY");
  };
  const lagSeconds = (host) => {
    const m = byHost.get(host);
    if (!m || !primary) return Infinity;
    return Math.max(0, (millis(primary.optimeDate) - millis(m.optimeDate)) / 1000);
  };
  return { byHost, primary: primary ? primary.name : null, healthy, lagSeconds };
}

// Majority kept: more than half of the voters are healthy (PRIMARY or SECONDARY).
function keepsMajority(members, state) {
  const voters = members.filter((m) => votesOf(m) > 0);
  const up = voters.filter((m) => state.healthy(m.host)).length;
  return up * 2 > voters.length;
}

function planStep(current, status, desired, options) {
  const maxLag = (options && options.maxLagSeconds) || 10;
  const state = view(status);
  if (!state.primary) return { kind: "wait", why: "no primary" };
  const want = new Map(desired.members.map((m) => [m.host, m]));
  const wantVotes = (host) => (want.has(host) ? votesOf(want.get(host)) : 0);
  const next = clone(current);
  next.version = (current.version || 1) + 1;
  const reconfig = (why) => ({ kind: "reconfig", config: next, why });

  // 1. Structure: non-voting additions and removals.
  const used = new Set(current.members.map((m) => m._id));
  const have = new Set(current.members.map((m) => m.host));
  let candidate = 0;
  const freeId = () => {
    while (used.has(candidate)) candidate += 1;
    used.add(candidate);
    return candidate;
  };
  const added = desired.members.filter((m) => !have.has(m.host)).map((m) => m.host);
  const dropped = current.members
    .filter((m) => !want.has(m.host) && votesOf(m) === 0 && m.host !== state.primary)
    .map((m) => m.host);
  if (added.length || dropped.length) {
    next.members = next.members.filter((m) => !dropped.includes(m.host));
    for (const host of added) {
      next.members.push({ _id: freeId(), host, votes: 0, priority: 0, tags: want.get(host).tags || {} });
    }
    return reconfig(`add ${added.join(", ") || "-"} as non-voting; remove ${dropped.join(", ") || "-"}`);
  }

  // 2. One voting change.
  const members = next.members;
  const voters = members.filter((m) => votesOf(m) > 0).length;
  const trial = (m, votes, priority) => {
    const saved = [m.votes, m.priority];
    m.votes = votes;
    m.priority = priority;
    const ok = keepsMajority(members, state) && members.filter((x) => votesOf(x) > 0).length <= MAX_VOTING;
    if (!ok) [m.votes, m.priority] = saved;
    return ok;
  };
  const leaving = members.filter((m) => votesOf(m) > 0 && wantVotes(m.host) === 0);
  const joining = members.filter((m) => votesOf(m) === 0 && wantVotes(m.host) > 0);
  for (const m of leaving.filter((x) => !state.healthy(x.host))) {
    if (trial(m, 0, 0)) return reconfig(`demote unreachable ${m.host}`);
  }
  for (const m of joining) {
    const ready = state.byHost.has(m.host) && state.byHost.get(m.host).stateStr === "SECONDARY" &&
      state.healthy(m.host) && state.lagSeconds(m.host) <= maxLag;
    if (ready && voters + 1 <= MAX_VOTING && trial(m, 1, priorityOf(want.get(m.host)))) {
      m.tags = want.get(m.host).tags || {};
      return reconfig(`grant the vote to ${m.host} (SECONDARY, caught up)`);
    }
  }
  for (const m of leaving.filter((x) => state.healthy(x.host) && x.host !== state.primary)) {
    if (trial(m, 0, 0)) return reconfig(`demote ${m.host}`);
  }
  if (leaving.some((m) => m.host === state.primary)) {
    return { kind: "stepDown", why: `the primary ${state.primary} leaves the voters: step it down first` };
  }
  if (leaving.length || joining.length) {
    const syncing = joining.map((m) => `${m.host} (${state.byHost.has(m.host) ? state.byHost.get(m.host).stateStr : "not seen"})`);
    return { kind: "wait", why: `voting changes pending: joining ${syncing.join(", ") || "-"}; leaving ${leaving.map((m) => m.host).join(", ") || "-"}` };
  }

  // 3. Priorities and tags of the members that stay.
  let changed = false;
  for (const m of members) {
    const target = want.get(m.host);
    const priority = votesOf(target) === 0 ? 0 : priorityOf(target);
    if (priorityOf(m) !== priority || !sameTags(m.tags, target.tags)) {
      if (m.host === state.primary && priority === 0) {
        return { kind: "stepDown", why: `the primary ${m.host} loses its priority: step it down first` };
      }
      m.priority = priority;
      m.tags = target.tags || {};
      changed = true;
    }
  }
  return changed ? reconfig("priorities and tags") : { kind: "done" };
}

// The loop: one step, then read the set again. `api` is mongosh (below) or a fake (tests).
function reconcile(api, desired, options) {
  const deadline = api.now() + 1000 * ((options && options.timeoutSeconds) || 3600);
  const pause = 1000 * ((options && options.pollSeconds) || 5);
  let steps = 0;
  for (;;) {
    let step;
    try {
      step = planStep(api.conf(), api.status(), desired, options);
    } catch (err) {
      step = { kind: "wait", why: `reading the set: ${err.message}` };
    }
    if (step.kind === "done") {
      api.print(`replica set matches the plan after ${steps} step(s)`);
      return steps;
    }
    if (api.now() > deadline) throw new Error(`timed out: ${step.why}`);
    if (step.kind === "wait") {
      api.print(`waiting: ${step.why}`);
      api.sleep(pause);
      continue;
    }
    steps += 1;
    api.print(`${step.kind}: ${step.why}`);
    if (step.kind === "reconfig") {
      api.reconfig(step.config);
      api.waitCommitted();
    } else if (step.kind === "stepDown") {
      api.stepDown();
    }
  }
}

// Per-purpose users (no root): the application reads and writes its database, the backup dumps, the
// restore restores, the monitor reads the set's state. Passwords come from the Job's environment
// (Kubernetes Secrets); rerunning updates them.
function ensureUsers(admin, env) {
  const users = [
    { user: "app", pwd: env.APP_PASSWORD, roles: [{ role: "readWrite", db: env.APP_DATABASE }] },
    { user: "backup", pwd: env.BACKUP_PASSWORD, roles: [{ role: "backup", db: "admin" }] },
    { user: "restore", pwd: env.RESTORE_PASSWORD, roles: [{ role: "restore", db: "admin" }] },
    // The exporter (components/database/exporter.py): replSetGetStatus, getDiagnosticData and the oplog's
    // first and last entries (Percona's documented grants for mongodb_exporter).
    { user: "monitor", pwd: env.MONITOR_PASSWORD,
      roles: [{ role: "clusterMonitor", db: "admin" }, { role: "read", db: "local" }] },
  ];
  for (const u of users) {
    if (!u.pwd) continue;
    if (admin.getUser(u.user) === null) {
      admin.createUser({ user: u.user, pwd: u.pwd, roles: u.roles });
    } else {
      admin.updateUser(u.user, { pwd: u.pwd, roles: u.roles });
    }
  }
}

function mongoshApi() {
  return {
    now: () => Date.now(),
    sleep: (ms) => sleep(ms), // mongosh built-in
    print: (text) => print(text),
    conf: () => rs.conf(),
    status: () => rs.status(),
    reconfig: (config) => rs.reconfig(config),
    waitCommitted: () => {
      for (let i = 0; i < 120; i += 1) {
        if (db.adminCommand({ replSetGetConfig: 1, commitmentStatus: true }).commitmentStatus) return;
        sleep(5000);
      }
      throw new Error("the new config did not commit in 10 minutes");
    },
    stepDown: () => {
      try {
        db.adminCommand({ replSetStepDown: 120, secondaryCatchUpPeriodSecs: 60 });
      } catch (err) {
        print(`step down: ${err.message} (the connection drops when the primary steps down)`);
      }
    },
  };
}

function main() {
  const fs = require("fs");
  const env = process.env;
  const desired = JSON.parse(fs.readFileSync(env.DESIRED_CONFIG, "utf8"));
  const options = { timeoutSeconds: Number(env.TIMEOUT_SECONDS || 3600), maxLagSeconds: Number(env.MAX_LAG_SECONDS || 10) };
  reconcile(mongoshApi(), desired, options);
  ensureUsers(db.getSiblingDB("admin"), env);
  print("users match the plan");
}

if (typeof module !== "undefined" && module.exports) {
  module.exports = { planStep, reconcile, ensureUsers, keepsMajority, MAX_VOTING };
}
if (typeof rs !== "undefined" && typeof process !== "undefined" && process.env.DESIRED_CONFIG) {
  main();
}
