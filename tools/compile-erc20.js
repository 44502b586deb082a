#!/usr/bin/env node
// Compiles tools/contracts/BoxTestToken.sol with the pinned npm `solc` and
// writes crates/testkit/fixtures/BoxTestToken.json (or the path given with
// `--out PATH`). The settings are fixed and the metadata hash is left out of
// the bytecode, so the same inputs give the same bytes on every machine; a
// box-testkit test recompiles and compares against the committed fixture.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');
const { SETTINGS, parseArgs } = require('./solc-settings');

const ROOT = path.resolve(__dirname, '..');
const SOURCE = 'tools/contracts/BoxTestToken.sol';
const CONTRACT = 'BoxTestToken';
const NODE_MODULES = path.join(__dirname, 'node_modules');



// Resolves `@openzeppelin/...` imports from tools/node_modules and nothing else,
// so a stray copy elsewhere on the machine can never change the bytecode.
function findImport(importPath) {
  if (!importPath.startsWith('@openzeppelin/contracts/')) {
    return { error: `import ${importPath} is not from @openzeppelin/contracts` };
  }
  const file = path.join(NODE_MODULES, importPath);
  if (!file.startsWith(NODE_MODULES + path.sep)) {
    return { error: `import ${importPath} leaves node_modules` };
  }
  try {
    return { contents: fs.readFileSync(file, 'utf8') };
  } catch (e) {
    return { error: `${importPath}: ${e.message} (run npm ci --prefix tools)` };
  }
}

function main() {
  const { out } = parseArgs(process.argv.slice(2), path.join(ROOT, 'crates/testkit/fixtures/BoxTestToken.json'), 'compile-erc20.js');
  const input = {
    language: 'Solidity',
    sources: { [SOURCE]: { content: fs.readFileSync(path.join(ROOT, SOURCE), 'utf8') } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) {
    process.stderr.write(e.formattedMessage || e.message);
  }
  if (errors.length > 0) {
    process.exit(1);
  }
  const contract = output.contracts[SOURCE][CONTRACT];
  const fixture = {
    compiler: solc.version(),
    source: SOURCE,
    settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion, metadata: SETTINGS.metadata },
    abi: contract.abi,
    bytecode: '0x' + contract.evm.bytecode.object,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(fixture, null, 2) + '\n');
}

main();
