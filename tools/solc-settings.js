// What tools/compile-erc20.js and tools/compile-contracts.js share: the fixed
// solc settings (no metadata hash, so the same inputs give the same bytes on
// every machine) and the `--out PATH` argument.
'use strict';

const path = require('path');

const SETTINGS = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'none', appendCBOR: false },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
};

/** `{ out }`: `--out PATH` or `defaultOut`; any other argument is an error naming `script`'s usage. */
function parseArgs(argv, defaultOut, script) {
  let out = defaultOut;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out' && i + 1 < argv.length) {
      out = path.resolve(argv[++i]);
    } else {
      throw new Error(`unknown argument ${argv[i]} (usage: ${script} [--out PATH])`);
    }
  }
  return { out };
}

module.exports = { SETTINGS, parseArgs };
