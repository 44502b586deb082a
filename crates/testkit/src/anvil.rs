//! A real public chain for tests: an `anvil` process on 127.0.0.1 and the
//! BOX test ERC-20.
//!
//! ```text
//!   test ──box-eth (HTTP, no TLS)──▶ anvil --port 0 --host 127.0.0.1
//! ```
//!
//! The anvil binary comes from the npm package pinned in `tools/package.json`
//! (`tools/test` runs `npm ci --prefix tools`); this module never installs
//! anything itself. The ERC-20 is the committed fixture
//! `fixtures/BoxTestToken.json`, built by `tools/compile-erc20.js`, so no
//! Rust test needs node except the one that checks the fixture is current.
//!
//! Every method panics with a message on failure: this is a test harness.

use alloy::primitives::{Address, B256, Bytes, TxKind, U256, address, keccak256, uint};
use alloy::sol_types::SolValue;
use box_core::crypto::SecretKey;
use box_eth::{Call, Eth, Fees, Receipt, Unsigned};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The ERC-20 interface (box-eth's, the one BOX uses).
pub use box_eth::erc20::IERC20;

/// Anvil's default chain id.
pub const DEFAULT_CHAIN_ID: u64 = 31337;

/// Private key of anvil's dev account 0 (from the public "test test … junk"
/// mnemonic): funded with 10 000 ETH in every anvil, secret to nobody.
pub const DEV_PRIVATE_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

/// Address of [`DEV_PRIVATE_KEY`].
pub const DEV_ADDRESS: Address = address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");

/// What [`Anvil::deploy_erc20`] mints to the holder: one million tokens of 18 decimals.
pub const ERC20_INITIAL_SUPPLY: U256 = uint!(1_000_000_000_000_000_000_000_000_U256);

/// Where a readiness or inclusion wait gives up.
const DEADLINE: Duration = Duration::from_secs(30);

/// The environment variable that overrides [`anvil_binary`]'s lookup.
pub const ANVIL_ENV: &str = "BOX_ANVIL";

/// The workspace root (compile-time path of this crate, two levels up).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The anvil binary: `$BOX_ANVIL` if set, else the one `npm ci --prefix tools`
/// installs. Panics, saying how to install it, if it is missing; it does not
/// install it (parallel test processes would race on `node_modules`).
pub fn anvil_binary() -> PathBuf {
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{ANVIL_ENV}={} is not a file", path.display());
        return path;
    }
    let path = workspace_root().join("tools/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        path.is_file(),
        "anvil is not installed at {}: run `npm ci --prefix tools` in the workspace \
         (tools/test does it), or point {ANVIL_ENV} at an anvil binary",
        path.display()
    );
    path
}

/// The committed BoxTestToken build (`fixtures/BoxTestToken.json`).
#[derive(Debug, Clone)]
pub struct Erc20Fixture {
    /// The solc version string it was compiled with.
    pub compiler: String,
    /// The contract ABI as JSON.
    pub abi: serde_json::Value,
    /// Creation bytecode, without constructor arguments.
    pub bytecode: Bytes,
}

/// The fixture's bytes as committed (also what the reproducibility test compares).
pub const ERC20_FIXTURE_JSON: &str = include_str!("../fixtures/BoxTestToken.json");

/// Parses [`ERC20_FIXTURE_JSON`].
pub fn erc20_fixture() -> Erc20Fixture {
    let v: serde_json::Value = serde_json::from_str(ERC20_FIXTURE_JSON).expect("fixture is JSON");
    Erc20Fixture {
        compiler: v["compiler"].as_str().expect("fixture names its compiler").to_owned(),
        abi: v["abi"].clone(),
        bytecode: v["bytecode"].as_str().expect("fixture has bytecode").parse().expect("bytecode is hex"),
    }
}

/// The committed build of `tools/contracts/OddContracts.sol` (the odd
/// tokens and contract recipients), made by `tools/compile-contracts.js`.
pub const ODD_FIXTURE_JSON: &str = include_str!("../fixtures/OddContracts.json");

/// The odd contracts of [`ODD_FIXTURE_JSON`], each odd in one way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Odd {
    /// USDT-style: `transfer` returns nothing.
    NoReturnToken,
    /// `transfer` returns `false` without reverting for a frozen recipient.
    FalseToken,
    /// Keeps 1 % of every transfer.
    FeeToken,
    /// 6 decimals.
    SixDecimalsToken,
    /// No `decimals()`.
    NoDecimalsToken,
    /// `receive()` emits an event (as a Safe proxy does work on receipt).
    LoggingRecipient,
    /// Cannot receive ETH (no `receive()`, no `fallback()`).
    NoReceive,
}

impl Odd {
    /// The contract's name in the fixture.
    pub fn name(self) -> &'static str {
        match self {
            Self::NoReturnToken => "NoReturnToken",
            Self::FalseToken => "FalseToken",
            Self::FeeToken => "FeeToken",
            Self::SixDecimalsToken => "SixDecimalsToken",
            Self::NoDecimalsToken => "NoDecimalsToken",
            Self::LoggingRecipient => "LoggingRecipient",
            Self::NoReceive => "NoReceive",
        }
    }

    /// Whether its constructor takes `(holder, supply)`.
    pub fn is_token(self) -> bool {
        !matches!(self, Self::LoggingRecipient | Self::NoReceive)
    }

    /// Its creation bytecode, without constructor arguments.
    pub fn bytecode(self) -> Bytes {
        let v: serde_json::Value = serde_json::from_str(ODD_FIXTURE_JSON).expect("fixture is JSON");
        let code = v["contracts"][self.name()]["bytecode"].as_str().expect("the fixture has the contract");
        code.parse().expect("bytecode is hex")
    }
}

/// How to start anvil. Defaults: chain id 31337, a block per transaction (automine).
#[derive(Debug, Clone)]
pub struct AnvilOptions {
    /// `--chain-id`.
    pub chain_id: u64,
    /// `--block-time N`: a block every N seconds instead of one per transaction.
    pub block_time: Option<u64>,
}

impl Default for AnvilOptions {
    fn default() -> Self {
        Self { chain_id: DEFAULT_CHAIN_ID, block_time: None }
    }
}

impl AnvilOptions {
    /// Sets the chain id.
    pub fn chain_id(mut self, chain_id: u64) -> Self {
        self.chain_id = chain_id;
        self
    }

    /// Mines a block every `seconds` instead of one per transaction.
    pub fn block_time(mut self, seconds: u64) -> Self {
        self.block_time = Some(seconds);
        self
    }
}

/// A running anvil process, killed on drop. Its log is in a temp dir that
/// lives as long as it does.
pub struct Anvil {
    // Declared before `dir`: the process dies before its log's directory goes.
    process: Process,
    dir: tempfile::TempDir,
    endpoint: String,
    chain_id: u64,
    eth: Eth,
    /// One transaction of dev account 0 at a time: each takes the next
    /// pending nonce.
    dev: tokio::sync::Mutex<SecretKey>,
}

/// The child process, killed on drop (also when a start-up wait panics).
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Anvil {
    /// Starts anvil with the default options.
    pub async fn start() -> Self {
        Self::start_with(AnvilOptions::default()).await
    }

    /// Starts anvil on 127.0.0.1 on a port the OS picks (`--port 0`, so
    /// parallel test processes never collide), and returns once it answers
    /// `eth_chainId`.
    pub async fn start_with(options: AnvilOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let log_path = dir.path().join("anvil.log");
        let log = std::fs::File::create(&log_path).unwrap();
        let mut cmd = Command::new(anvil_binary());
        cmd.args(["--host", "127.0.0.1", "--port", "0", "--chain-id"])
            .arg(options.chain_id.to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(seconds) = options.block_time {
            cmd.arg("--block-time").arg(seconds.to_string());
        }
        let mut process = Process(cmd.spawn().unwrap());
        let port = crate::eventually("anvil to print its port", DEADLINE, || {
            let port = log_port(&log_path);
            let exited = port.is_none() && process.0.try_wait().unwrap().is_some();
            assert!(!exited, "anvil exited before listening:\n{}", log_tail(&log_path));
            async move { port }
        })
        .await;
        let endpoint = format!("http://127.0.0.1:{port}");
        let eth = Eth::connect(&endpoint).unwrap();
        let chain_id = crate::eventually("anvil to answer eth_chainId", DEADLINE, || {
            let eth = eth.clone();
            async move { eth.chain_id().await.ok() }
        })
        .await;
        assert_eq!(chain_id, options.chain_id, "anvil runs another chain id");
        let mut bytes = [0u8; 32];
        hex_decode(DEV_PRIVATE_KEY, &mut bytes);
        let dev = tokio::sync::Mutex::new(SecretKey::from_bytes(&bytes).unwrap());
        Self { process, dir, endpoint, chain_id, eth, dev }
    }

    /// Freezes the anvil process (`SIGSTOP`): the kernel still accepts
    /// connections but nothing answers, as with a node that hangs; every
    /// call times out. [`Anvil::resume`] continues it with its state intact.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Continues a [`paused`](Anvil::pause) anvil (`SIGCONT`).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let pid = self.process.0.id().to_string();
        let status = Command::new("kill").args([which, &pid]).status().expect("kill");
        assert!(status.success(), "kill {which} {pid} failed");
    }

    /// The last lines of anvil's log, for assertion messages.
    pub fn log_tail(&self) -> String {
        log_tail(&self.dir.path().join("anvil.log"))
    }

    /// The JSON-RPC URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// The chain id anvil runs.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// The Ethereum client (box-eth) on this anvil.
    pub fn eth(&self) -> &Eth {
        &self.eth
    }

    async fn rpc(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.eth.raw_request(method, params).await.unwrap_or_else(|e| panic!("{method}: {e}\n{}", self.log_tail()))
    }

    /// Sends a transaction from dev account 0 (`to`: a call or a creation)
    /// and returns its hash once the node took it.
    async fn send_from_dev(&self, to: TxKind, value: U256, input: Bytes) -> B256 {
        let dev = self.dev.lock().await;
        let nonce = self.eth.pending_nonce(DEV_ADDRESS).await.unwrap();
        let fees = Fees { max_fee_per_gas: 20_000_000_000, priority_fee_per_gas: 1_000_000_000 };
        let tx = match to {
            TxKind::Call(to) => Unsigned::call(self.chain_id, nonce, 3_000_000, fees, &Call { to, value, data: input }),
            TxKind::Create => Unsigned::create(self.chain_id, nonce, 3_000_000, fees, input),
        };
        let signed = tx.clone().into_signed(dev.sign_hash(&tx.signing_hash()));
        self.eth.send_raw(&signed.raw).await.unwrap_or_else(|e| panic!("send: {e}\n{}", self.log_tail()));
        signed.hash
    }

    /// Mines `n` blocks now (`anvil_mine`), whatever the mining mode.
    pub async fn mine(&self, n: u64) {
        self.rpc("anvil_mine", serde_json::json!([U256::from(n)])).await;
    }

    /// Replaces the last `depth` blocks with as many empty ones
    /// (`anvil_reorg`): their transactions are gone, receipts and effects
    /// included, and not back in the pool.
    pub async fn reorg(&self, depth: u64) {
        self.rpc("anvil_reorg", serde_json::json!([depth, []])).await;
    }

    /// Sets the base fee per gas of the next block
    /// (`anvil_setNextBlockBaseFeePerGas`); later blocks follow EIP-1559
    /// from it. The pool refuses transactions whose fee cap is below it.
    pub async fn set_next_base_fee(&self, wei: u128) {
        self.rpc("anvil_setNextBlockBaseFeePerGas", serde_json::json!([U256::from(wei)])).await;
    }

    /// Removes transaction `hash` from the pool (`anvil_dropTransaction`),
    /// as a node that evicts or forgets it.
    pub async fn drop_transaction(&self, hash: B256) {
        self.rpc("anvil_dropTransaction", serde_json::json!([hash])).await;
    }

    /// Turns mining a block per transaction on or off (`evm_setAutomine`).
    /// Off, transactions wait in the pool until [`Anvil::mine`] or the block time.
    pub async fn set_automine(&self, on: bool) {
        self.rpc("evm_setAutomine", serde_json::json!([on])).await;
    }

    /// `addr`'s ETH balance at the latest block.
    pub async fn balance(&self, addr: Address) -> U256 {
        self.eth.balance(addr).await.unwrap()
    }

    /// Sends `wei` from dev account 0 to `to` and waits until it is in a
    /// block (with automine off and no block time, that needs a [`Anvil::mine`]
    /// from another task).
    pub async fn fund(&self, to: Address, wei: U256) -> Receipt {
        let hash = self.send_from_dev(TxKind::Call(to), wei, Bytes::new()).await;
        self.wait_success(hash, "fund").await
    }

    /// Deploys BoxTestToken minting [`ERC20_INITIAL_SUPPLY`] to `holder`;
    /// returns its address.
    pub async fn deploy_erc20(&self, holder: Address) -> Address {
        self.deploy_erc20_with_supply(holder, ERC20_INITIAL_SUPPLY).await
    }

    /// Deploys BoxTestToken minting `supply` (smallest units) to `holder`.
    pub async fn deploy_erc20_with_supply(&self, holder: Address, supply: U256) -> Address {
        let mut code = erc20_fixture().bytecode.to_vec();
        code.extend_from_slice(&(holder, supply).abi_encode_params());
        let hash = self.send_from_dev(TxKind::Create, U256::ZERO, code.into()).await;
        let receipt = self.wait_success(hash, "deploy BoxTestToken").await;
        receipt.contract.expect("a creation receipt names the contract")
    }

    /// Deploys an odd contract; a token mints `supply` to `holder` (both
    /// ignored for a recipient). Returns its address.
    pub async fn deploy_odd(&self, odd: Odd, holder: Address, supply: U256) -> Address {
        let mut code = odd.bytecode().to_vec();
        if odd.is_token() {
            code.extend_from_slice(&(holder, supply).abi_encode_params());
        }
        let hash = self.send_from_dev(TxKind::Create, U256::ZERO, code.into()).await;
        let receipt = self.wait_success(hash, odd.name()).await;
        receipt.contract.expect("a creation receipt names the contract")
    }

    /// Deploys `NamedToken` (a standard token of `OddContracts.sol`) with
    /// `symbol` and `decimals`, minting `supply` base units to `holder`.
    pub async fn deploy_named_token(&self, symbol: &str, decimals: u8, holder: Address, supply: U256) -> Address {
        let v: serde_json::Value = serde_json::from_str(ODD_FIXTURE_JSON).expect("fixture is JSON");
        let code: Bytes = v["contracts"]["NamedToken"]["bytecode"].as_str().expect("NamedToken").parse().expect("hex");
        let mut code = code.to_vec();
        code.extend_from_slice(&(symbol.to_owned(), U256::from(decimals), holder, supply).abi_encode_params());
        let hash = self.send_from_dev(TxKind::Create, U256::ZERO, code.into()).await;
        let receipt = self.wait_success(hash, "deploy NamedToken").await;
        receipt.contract.expect("a creation receipt names the contract")
    }

    /// Calls `to` with `data` from dev account 0 and waits until it is mined
    /// successfully (a test's setup, e.g. `FalseToken.freeze(who)`).
    pub async fn call_from_dev(&self, to: Address, data: Bytes) -> Receipt {
        let hash = self.send_from_dev(TxKind::Call(to), U256::ZERO, data).await;
        self.wait_success(hash, "call from the dev account").await
    }

    /// `who`'s balance of ERC-20 `token`.
    pub async fn erc20_balance(&self, token: Address, who: Address) -> U256 {
        self.eth.token_balance(token, who).await.unwrap()
    }

    /// Broadcasts a signed, EIP-2718-encoded transaction; returns its hash
    /// without waiting for a block (see [`Anvil::wait_receipt`]).
    pub async fn send_raw(&self, raw: &[u8]) -> B256 {
        self.eth.send_raw(raw).await.unwrap_or_else(|e| panic!("send_raw: {e}"));
        // A transaction's hash is the hash of its EIP-2718 bytes.
        keccak256(raw)
    }

    /// Waits until transaction `hash` is in a block; returns its receipt,
    /// successful or reverted.
    pub async fn wait_receipt(&self, hash: B256) -> Receipt {
        crate::eventually(&format!("a receipt for {hash}"), DEADLINE, || async move {
            self.eth.receipt(hash).await.unwrap()
        })
        .await
    }

    async fn wait_success(&self, hash: B256, what: &str) -> Receipt {
        let receipt = self.wait_receipt(hash).await;
        assert!(receipt.success, "{what}: transaction {hash} reverted");
        receipt
    }
}

/// Hex (with or without `0x`) into `out`; panics on anything else (constants only).
fn hex_decode(text: &str, out: &mut [u8; 32]) {
    let text = text.trim_start_matches("0x");
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("a hex constant");
    }
}

/// The port from anvil's `Listening on 127.0.0.1:PORT` line, once printed.
fn log_port(log: &Path) -> Option<u16> {
    let text = std::fs::read_to_string(log).ok()?;
    text.lines().find_map(|l| l.trim().strip_prefix("Listening on 127.0.0.1:")?.trim().parse().ok())
}

fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}
