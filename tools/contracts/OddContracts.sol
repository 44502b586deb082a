// SPDX-License-Identifier: Apache-2.0
// What real desks meet and BOX's tests deploy on anvil (issue 14): tokens that
// do not follow ERC-20 to the letter, and contract recipients. Deliberately
// small and hand-written (no OpenZeppelin), each odd in one way only. The
// compiled bytecode is committed as crates/testkit/fixtures/OddContracts.json
// by tools/compile-contracts.js; a testkit test recompiles and compares.
pragma solidity 0.8.37;

/// Balances, supply, symbol and the Transfer event, shared by the odd tokens.
abstract contract OddBase {
    event Transfer(address indexed from, address indexed to, uint256 value);

    mapping(address => uint256) public balanceOf;
    uint256 public totalSupply;
    string public symbol;

    constructor(string memory symbol_, address holder, uint256 supply) {
        symbol = symbol_;
        balanceOf[holder] = supply;
        totalSupply = supply;
        emit Transfer(address(0), holder, supply);
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "insufficient balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}

/// USDT-style: `transfer` returns nothing.
contract NoReturnToken is OddBase {
    constructor(address holder, uint256 supply) OddBase("NORET", holder, supply) {}

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function transfer(address to, uint256 amount) external {
        _move(msg.sender, to, amount);
    }
}

/// Returns `false` without reverting (and moves nothing) for a transfer to a
/// frozen address, or beyond the sender's balance.
contract FalseToken is OddBase {
    mapping(address => bool) public frozen;

    constructor(address holder, uint256 supply) OddBase("FALSE", holder, supply) {}

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function freeze(address who) external {
        frozen[who] = true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        if (frozen[to] || balanceOf[msg.sender] < amount) {
            return false;
        }
        _move(msg.sender, to, amount);
        return true;
    }
}

/// Keeps 1 % of every transfer: the recipient gets 99 %, the collector the rest.
contract FeeToken is OddBase {
    address public constant COLLECTOR = address(0xFEE);

    constructor(address holder, uint256 supply) OddBase("FEE", holder, supply) {}

    function decimals() external pure returns (uint8) {
        return 18;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        uint256 fee = amount / 100;
        _move(msg.sender, to, amount - fee);
        _move(msg.sender, COLLECTOR, fee);
        return true;
    }
}

/// A standard token with 6 decimals (as USDC).
contract SixDecimalsToken is OddBase {
    constructor(address holder, uint256 supply) OddBase("SIX", holder, supply) {}

    function decimals() external pure returns (uint8) {
        return 6;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }
}

/// A standard token with the symbol and decimals its deployer chooses.
contract NamedToken is OddBase {
    uint8 public immutable decimals;

    constructor(string memory symbol_, uint8 decimals_, address holder, uint256 supply)
        OddBase(symbol_, holder, supply)
    {
        decimals = decimals_;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }
}

/// A token without `decimals()`.
contract NoDecimalsToken is OddBase {
    constructor(address holder, uint256 supply) OddBase("NODEC", holder, supply) {}

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }
}

/// A recipient like a Safe proxy: `receive()` does work (emits an event), so
/// 2300 gas or a fixed 21 000 is not enough.
contract LoggingRecipient {
    event Received(address indexed from, uint256 amount);

    receive() external payable {
        emit Received(msg.sender, msg.value);
    }
}

/// A contract that cannot receive ETH: no `receive()`, no `fallback()`.
contract NoReceive {
    function ping() external pure returns (uint256) {
        return 1;
    }
}
