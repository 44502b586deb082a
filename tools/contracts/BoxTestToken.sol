// SPDX-License-Identifier: Apache-2.0
// The ERC-20 BOX's tests and `boxctl dev up` deploy on anvil: OpenZeppelin's
// ERC20 with the whole initial supply minted to one holder. Its compiled
// bytecode is committed as crates/testkit/fixtures/BoxTestToken.json by
// tools/compile-erc20.js; a testkit test recompiles and compares.
pragma solidity 0.8.37;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

contract BoxTestToken is ERC20 {
    constructor(address holder, uint256 initialSupply) ERC20("BOX Test Token", "BOXT") {
        _mint(holder, initialSupply);
    }
}
