// First-deploy bootstrap (mongosh script), run by the `bootstrap` container of ONE member's pod (the
// plan's bootstrap member), on localhost, without credentials: the localhost exception lets a client on
// the member's own host initiate the set and create the first user when no user exists yet
// (https://www.mongodb.com/docs/manual/core/localhost-exception/). It creates exactly one user, the
// reconcile Job's x.509 identity (a client certificate with a different O than the members, so it is
// not a member), and the exception closes. Everything else (members, votes, users) is the Job's.
//
// Idempotent and safe to rerun after a crash at any point:
//   - not initiated, and no other planned member (scripts/members.txt) answers with a set name: initiate
//     with this member alone (AlreadyInitialized from a racing rerun is fine). If another member
//     already belongs to the set (say the primary region moved to a new region whose member is the
//     bootstrap member now), never initiate a second set: the reconcile Job adds this member;
//   - initiated with more than this member: the set has been grown by the Job, so the user exists;
//   - initiated with this member alone: wait to be primary, create the user; "Unauthorized" means a
//     user exists already (the exception is closed), "already exists" that it is this one.

const env = process.env;
const member = JSON.parse(env.BOOTSTRAP_MEMBER);

function waitFor(what, test, seconds) {
  for (let i = 0; i < seconds / 2; i += 1) {
    try {
      if (test()) return;
    } catch (err) {
      print(`waiting for ${what}: ${err.message}`);
    }
    sleep(2000);
  }
  throw new Error(`timed out waiting for ${what}`);
}

waitFor("mongod", () => db.adminCommand({ ping: 1 }).ok === 1, 600);
function setExistsElsewhere() {
  const fs = require("fs");
  const tls = `tls=true&tlsCAFile=${env.TLS_DIR}/ca.pem&tlsCertificateKeyFile=${env.TLS_DIR}/tls.pem` +
    "&directConnection=true&serverSelectionTimeoutMS=3000";
  const others = fs.readFileSync(`${env.SCRIPTS_DIR}/members.txt`, "utf8").split("\n")
    .map((h) => h.trim()).filter((h) => h && h !== member.host);
  for (const host of others) {
    try {
      if (new Mongo(`mongodb://${host}/?${tls}`).getDB("admin").runCommand({ hello: 1 }).setName) {
        print(`${host} already belongs to the set: not initiating another one`);
        return true;
      }
    } catch (err) {
      // unreachable or not started: no evidence of a set there
    }
  }
  return false;
}

let hello = db.hello();
if (!hello.setName && setExistsElsewhere()) {
  print("waiting for the reconcile Job to add this member");
  quit(0);
}
if (!hello.setName) {
  try {
    // Config servers: the set says so (https://www.mongodb.com/docs/manual/reference/replica-configuration/#mongodb-rsconf-rsconf.configsvr).
    rs.initiate({ _id: env.REPLICA_SET, members: [member], ...(env.CONFIG_SERVER === "true" ? { configsvr: true } : {}) });
    print(`initiated ${env.REPLICA_SET} with ${member.host}`);
  } catch (err) {
    if (err.codeName !== "AlreadyInitialized") throw err;
  }
}
hello = db.hello();
const known = [...(hello.hosts || []), ...(hello.passives || []), ...(hello.arbiters || [])];
if (known.length > 1) {
  print("the set has grown: bootstrap done earlier");
} else {
  waitFor("this member to be primary", () => db.hello().isWritablePrimary, 600);
  try {
    db.getSiblingDB("$external").createUser({
      user: env.RECONCILE_SUBJECT,
      roles: [{ role: "clusterManager", db: "admin" }, { role: "clusterMonitor", db: "admin" },
              { role: "userAdminAnyDatabase", db: "admin" }],
    });
    print(`created ${env.RECONCILE_SUBJECT}`);
  } catch (err) {
    if (err.codeName !== "Unauthorized" && !/already exists/.test(err.message)) throw err;
    print(`reconcile identity present (${err.codeName || err.message})`);
  }
}
