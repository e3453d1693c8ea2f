// A program that lets a FactlogError go uncaught, as an application's
// mistake would: Node prints the error and the line it came from. Run by
// TestNodeUncaughtError (node_test.go), which checks that the output stays
// short: the package is minified, and a line of it must not be the bundle.
import { open } from "factlog";

const db = await open();
await db.query("SELEC 1");
