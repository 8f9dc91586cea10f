// Tie the shards to their residency zones and shard the user-data collection (mongosh script, run by
// the sharded reconcile Job through `mongos`, after every shard and the config servers are reconciled).
//
// Idempotent: every step reads the cluster first and only does what is missing, so a run that stops
// anywhere is simply run again.
//   1. `addShard` for each planned shard not listed yet (https://www.mongodb.com/docs/manual/reference/command/addShard/);
//   2. `addShardToZone` and `updateZoneKeyRange` (both accept a repeat of what exists:
//      https://www.mongodb.com/docs/manual/reference/command/updateZoneKeyRange/);
//   3. `shardCollection` with the compound hashed key and `presplitHashedZones`, once: a collection that
//      is already sharded is left alone (config.collections lists it).
// A shard never leaves here: removing a shard drains it first (docs/residency.md "Removing a zone").
// `applySetup` is pure of mongosh and exported: tests drive it with a fake `runCommand`.

function applySetup(setup, run) {
  const done = [];
  const listed = new Set((run({ listShards: 1 }).shards || []).map((s) => s._id));
  for (const shard of setup.shards) {
    if (listed.has(shard.name)) continue;
    run({ addShard: `${shard.name}/${shard.hosts.join(",")}`, name: shard.name });
    done.push(`addShard ${shard.name}`);
  }
  for (const command of setup.commands) {
    if (command.shardCollection !== undefined) {
      const sharded = run({ find: "collections", filter: { _id: command.shardCollection }, $db: "config" });
      if (sharded.cursor && sharded.cursor.firstBatch.length > 0) continue;
    }
    run(command);
    done.push(Object.keys(command)[0]);
  }
  return done;
}

if (typeof module !== "undefined") module.exports = { applySetup };

if (typeof db !== "undefined" && typeof process !== "undefined" && process.env.SHARDING_SETUP) {
  const fs = require("fs");
  const setup = JSON.parse(fs.readFileSync(process.env.SHARDING_SETUP, "utf8"));
  const admin = db.getSiblingDB("admin");
  const run = (command) => {
    const { $db: name, ...body } = command;
    const result = (name ? db.getSiblingDB(name) : admin).runCommand(EJSON.deserialize(body));
    if (result.ok !== 1) throw new Error(`${JSON.stringify(body)}: ${result.errmsg}`);
    return result;
  };
  for (const step of applySetup(setup, run)) print(step);
  print("sharding: done");
}
