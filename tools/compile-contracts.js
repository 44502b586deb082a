#!/usr/bin/env node
// Compiles tools/contracts/OddContracts.sol (the odd tokens and contract
// recipients of issue 14) with the pinned npm `solc` and writes
// crates/testkit/fixtures/OddContracts.json (or `--out PATH`): every
// contract's ABI and creation bytecode. Same fixed settings as
// compile-erc20.js (no metadata hash), so the same inputs give the same bytes
// everywhere; a box-testkit test recompiles and compares.
'use strict';

const fs = require('fs');
const path = require('path');
const solc = require('solc');
const { SETTINGS, parseArgs } = require('./solc-settings');

const ROOT = path.resolve(__dirname, '..');
const SOURCE = 'tools/contracts/OddContracts.sol';



function main() {
  const { out } = parseArgs(process.argv.slice(2), path.join(ROOT, 'crates/testkit/fixtures/OddContracts.json'), 'compile-contracts.js');
  const input = {
    language: 'Solidity',
    sources: { [SOURCE]: { content: fs.readFileSync(path.join(ROOT, SOURCE), 'utf8') } },
    settings: SETTINGS,
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: (p) => ({ error: `no imports here: ${p}` }) }));
  const errors = (output.errors || []).filter((e) => e.severity === 'error');
  for (const e of output.errors || []) {
    process.stderr.write(e.formattedMessage || e.message);
  }
  if (errors.length > 0) {
    process.exit(1);
  }
  const contracts = {};
  for (const [name, c] of Object.entries(output.contracts[SOURCE]).sort(([a], [b]) => a.localeCompare(b))) {
    if (c.evm.bytecode.object.length === 0) {
      continue; // abstract
    }
    contracts[name] = { abi: c.abi, bytecode: '0x' + c.evm.bytecode.object };
  }
  const fixture = {
    compiler: solc.version(),
    source: SOURCE,
    settings: { optimizer: SETTINGS.optimizer, evmVersion: SETTINGS.evmVersion, metadata: SETTINGS.metadata },
    contracts,
  };
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(fixture, null, 2) + '\n');
}

main();
