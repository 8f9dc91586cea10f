// A fake replica set for driving components/database/scripts/reconcile.js under node.
//
// It accepts what MongoDB accepts and refuses what it refuses (rs.reconfig: version + 1, at most one
// voting change, priority > 0 only with a vote, at most 7 voters, the primary stays electable), and it
// records a violation whenever a step breaks one of the invariants the plan promises: a vote granted to
// a member that is not SECONDARY, or a config after which a majority of the voters is not healthy.
// Members added to the set sync for `syncSeconds` (STARTUP2) before they become SECONDARY.
// `crashAt: [k, "before"|"after"]` throws on the k-th mutating call (reconfig or stepDown), before or
// after it took effect, as a Job killed at that point would.
//
// Usage: node fake_replica_set.js < scenario.json  ->  prints a JSON result.

const path = require("path");

class Crash extends Error {}

class FakeSet {
  constructor(scenario) {
    this.config = JSON.parse(JSON.stringify(scenario.current));
    this.clock = 1_000_000;
    this.syncSeconds = scenario.syncSeconds || 60;
    this.down = new Set(scenario.down || []);
    this.nodes = new Map(); // host -> {state, syncedAt}
    for (const m of this.config.members) this.nodes.set(m.host, { state: "SECONDARY", syncedAt: 0 });
    this.frozen = new Map(); // host -> clock until which it cannot be elected
    this.primary = null;
    this.elect();
    this.violations = [];
    this.history = [];
    this.operations = 0;
    this.crashAt = scenario.crashAt || null;
    this.printed = [];
  }

  now() { return this.clock; }
  print(text) { this.printed.push(text); }

  member(host) { return this.config.members.find((m) => m.host === host); }
  votes(m) { return m.votes === undefined ? 1 : m.votes; }
  priority(m) { return m.priority === undefined ? 1 : m.priority; }

  stateOf(host) {
    if (this.down.has(host)) return "DOWN";
    if (host === this.primary) return "PRIMARY";
    const node = this.nodes.get(host);
    return node ? node.state : "DOWN";
  }

  healthy(host) {
    const s = this.stateOf(host);
    return s === "PRIMARY" || s === "SECONDARY";
  }

  elect() {
    const voters = this.config.members.filter((m) => this.votes(m) > 0);
    const up = voters.filter((m) => this.healthy(m.host) || m.host === this.primary);
    if (up.length * 2 <= voters.length) { this.primary = null; return; }
    const candidates = this.config.members.filter((m) => this.votes(m) > 0 && this.priority(m) > 0 &&
      !this.down.has(m.host) && this.nodes.get(m.host) && this.nodes.get(m.host).state !== "STARTUP2" &&
      (this.frozen.get(m.host) || 0) <= this.clock);
    candidates.sort((a, b) => this.priority(b) - this.priority(a) || a._id - b._id);
    const previous = this.primary;
    this.primary = candidates.length ? candidates[0].host : null;
    if (previous && previous !== this.primary && this.nodes.get(previous)) this.nodes.get(previous).state = "SECONDARY";
  }

  conf() { return JSON.parse(JSON.stringify(this.config)); }

  status() {
    return {
      set: this.config._id,
      members: this.config.members.map((m) => {
        const state = this.stateOf(m.host);
        const caughtUp = state === "PRIMARY" || state === "SECONDARY";
        return {
          _id: m._id, name: m.host, stateStr: state === "DOWN" ? "(not reachable/healthy)" : state,
          health: state === "DOWN" ? 0 : 1,
          optimeDate: new Date(caughtUp ? this.clock : this.clock - 3_600_000).toISOString(),
        };
      }),
    };
  }

  tick() {
    this.operations += 1;
    if (this.crashAt && this.crashAt[0] === this.operations && this.crashAt[1] === "before") {
      throw new Crash(`crash before operation ${this.operations}`);
    }
  }

  afterEffect() {
    if (this.crashAt && this.crashAt[0] === this.operations && this.crashAt[1] === "after") {
      throw new Crash(`crash after operation ${this.operations}`);
    }
  }

  refuse(message) {
    const err = new Error(message);
    err.refused = true;
    throw err;
  }

  reconfig(next) {
    this.tick();
    if (!this.primary) this.refuse("NotWritablePrimary: no primary");
    const old = new Map(this.config.members.map((m) => [m.host, m]));
    const neu = new Map(next.members.map((m) => [m.host, m]));
    if (next.version !== this.config.version + 1) this.refuse(`version ${next.version} after ${this.config.version}`);
    if (neu.size !== next.members.length) this.refuse("duplicate host");
    if (new Set(next.members.map((m) => m._id)).size !== next.members.length) this.refuse("duplicate _id");
    for (const m of next.members) {
      if (old.has(m.host) && old.get(m.host)._id !== m._id) this.refuse(`_id of ${m.host} changed`);
      if (this.priority(m) > 0 && this.votes(m) === 0) this.refuse(`priority > 0 without a vote: ${m.host}`);
    }
    const hosts = new Set([...old.keys(), ...neu.keys()]);
    const votingChanges = [...hosts].filter((h) => (old.has(h) ? this.votes(old.get(h)) : 0) !==
      (neu.has(h) ? this.votes(neu.get(h)) : 0));
    if (votingChanges.length > 1) this.refuse(`NewReplicaSetConfigurationIncompatible: ${votingChanges.length} voting changes`);
    const voters = next.members.filter((m) => this.votes(m) > 0);
    if (voters.length > 7) this.refuse("more than 7 voting members");
    const p = neu.get(this.primary);
    if (!p || this.votes(p) === 0 || this.priority(p) === 0) this.refuse(`NodeNotElectable: the primary ${this.primary}`);
    // Invariants of the plan (recorded, not refused: the server would accept them).
    for (const h of votingChanges) {
      if (neu.has(h) && this.votes(neu.get(h)) > 0 && this.stateOf(h) !== "SECONDARY") {
        this.violations.push(`vote granted to ${h} in state ${this.stateOf(h)}`);
      }
    }
    const up = voters.filter((m) => this.healthy(m.host)).length;
    if (up * 2 <= voters.length) this.violations.push(`majority lost: ${up} of ${voters.length} voters healthy`);
    // Effect.
    for (const h of neu.keys()) {
      if (!old.has(h)) this.nodes.set(h, { state: "STARTUP2", syncedAt: this.clock + this.syncSeconds * 1000 });
    }
    for (const h of old.keys()) if (!neu.has(h)) this.nodes.set(h, { state: "REMOVED", syncedAt: 0 });
    this.config = JSON.parse(JSON.stringify(next));
    this.history.push(this.conf());
    this.elect(); // a member given a higher priority takes over once caught up
    this.afterEffect();
  }

  waitCommitted() {}

  stepDown() {
    this.tick();
    if (this.primary) {
      this.frozen.set(this.primary, this.clock + 120_000);
      this.nodes.get(this.primary).state = "SECONDARY";
      this.elect();
    }
    this.afterEffect();
  }

  sleep(ms) {
    this.clock += ms;
    for (const node of this.nodes.values()) {
      if (node.state === "STARTUP2" && node.syncedAt <= this.clock) node.state = "SECONDARY";
    }
    this.elect(); // elections, and priority takeover by a caught-up member of higher priority
  }
}

function run(scenario) {
  const { reconcile } = require(path.resolve(scenario.script));
  const set = new FakeSet(scenario);
  let runs = 0;
  let error = null;
  const options = { timeoutSeconds: scenario.timeoutSeconds || 7200, pollSeconds: 5 };
  for (;;) {
    runs += 1;
    try {
      reconcile(set, scenario.desired, options);
      break;
    } catch (err) {
      if (err instanceof Crash && runs < 20) {
        set.sleep(30_000); // the Job's pod restarts
        continue;
      }
      error = err.message;
      break;
    }
  }
  return {
    runs, error, operations: set.operations, violations: set.violations, history: set.history,
    final: set.conf(), primary: set.primary, log: set.printed,
  };
}

// The clean run, then one run per crash point: before and after each mutating call of the clean run.
function sweep(scenario) {
  const clean = run(scenario);
  const crashes = [];
  for (let k = 1; k <= clean.operations; k += 1) {
    for (const when of ["before", "after"]) {
      crashes.push({ crashAt: [k, when], ...run({ ...scenario, crashAt: [k, when] }) });
    }
  }
  return { clean, crashes };
}

if (require.main === module) {
  const input = require("fs").readFileSync(0, "utf8");
  console.log(JSON.stringify(sweep(JSON.parse(input))));
}

module.exports = { FakeSet, run, sweep };
