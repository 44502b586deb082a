//! A public chain in memory: EIP-1559 transactions decoded and checked as a
//! node does (chain id, sender, nonce, funds, replacement price), a pool,
//! blocks mined on demand (or one per transaction), ETH and ERC-20
//! `transfer` effects, receipts, and reorganisations that put mined
//! transactions back in the pool.

use super::lock;
use crate::ports::EthereumRpc;
use alloy::consensus::{Transaction, TxEnvelope};
use alloy::eips::eip2718::Decodable2718;
use alloy::sol_types::{SolCall, SolEvent};
use box_core::crypto::recover;
use box_eth::erc20::IERC20;
use box_eth::{Address, B256, Bytes, Call, EthError, Fees, Log, Receipt, U256};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

/// Gas a token `transfer` uses here.
const TOKEN_GAS: u64 = 50_000;

/// A simulated Ethereum node (see the module doc). Clones share the chain.
#[derive(Debug, Clone)]
pub struct MemoryEthereum {
    inner: Arc<Mutex<Chain>>,
}

#[derive(Debug, Clone, Default)]
struct Ledger {
    balances: HashMap<Address, U256>,
    nonces: HashMap<Address, u64>,
    tokens: HashMap<(Address, Address), U256>,
}

#[derive(Debug, Clone)]
struct PoolTx {
    hash: B256,
    from: Address,
    nonce: u64,
    to: Address,
    value: U256,
    data: Bytes,
    max_fee: u128,
    tip: u128,
}

#[derive(Debug)]
struct Chain {
    chain_id: u64,
    base_fee: u128,
    automine: bool,
    down: bool,
    ledger: Ledger,
    token_contracts: BTreeSet<Address>,
    /// What each token's `decimals()` and `symbol()` answer (`None`: no `decimals()`).
    token_meta: HashMap<Address, (Option<u8>, String)>,
    pool: Vec<PoolTx>,
    /// Per block: the ledger before it, its transactions, its hash.
    blocks: Vec<(Ledger, Vec<PoolTx>, B256)>,
    /// Blocks ever mined (a block mined after a reorg gets a new hash).
    mined_ever: u64,
    receipts: HashMap<B256, Receipt>,
}

impl MemoryEthereum {
    /// A chain `chain_id` with a base fee of 1 gwei, mining a block per
    /// transaction.
    pub fn new(chain_id: u64) -> Self {
        let chain = Chain {
            chain_id,
            base_fee: 1_000_000_000,
            automine: true,
            down: false,
            ledger: Ledger::default(),
            token_contracts: BTreeSet::new(),
            token_meta: HashMap::new(),
            pool: Vec::new(),
            blocks: Vec::new(),
            mined_ever: 0,
            receipts: HashMap::new(),
        };
        Self { inner: Arc::new(Mutex::new(chain)) }
    }

    /// Credits `wei` to `who`.
    pub fn fund(&self, who: Address, wei: U256) {
        let mut c = lock(&self.inner);
        let b = c.ledger.balances.entry(who).or_default();
        *b = b.saturating_add(wei);
    }

    /// Takes `wei` from `who` (a wallet that spent money elsewhere).
    pub fn debit(&self, who: Address, wei: U256) {
        let mut c = lock(&self.inner);
        let b = c.ledger.balances.entry(who).or_default();
        *b = b.saturating_sub(wei);
    }

    /// A token contract at a fresh address with `supply` held by `holder`.
    pub fn deploy_token(&self, holder: Address, supply: U256) -> Address {
        let mut c = lock(&self.inner);
        let token = Address::with_last_byte(u8::try_from(c.token_contracts.len() + 1).unwrap_or(u8::MAX));
        c.token_contracts.insert(token);
        c.token_meta.insert(token, (Some(0), "TKN".into()));
        c.ledger.tokens.insert((token, holder), supply);
        token
    }

    /// Changes what `token` answers to `decimals()` (`None`: it has no
    /// such function) and `symbol()` (deployed tokens say 0 and `TKN`).
    pub fn set_token_meta(&self, token: Address, decimals: Option<u8>, symbol: &str) {
        lock(&self.inner).token_meta.insert(token, (decimals, symbol.to_owned()));
    }

    /// Mining one block per transaction, or only on [`MemoryEthereum::mine`].
    pub fn set_automine(&self, on: bool) {
        lock(&self.inner).automine = on;
    }

    /// Whether every call fails as unreachable.
    pub fn set_down(&self, down: bool) {
        lock(&self.inner).down = down;
    }

    /// Mines `n` blocks now.
    pub fn mine(&self, n: u64) {
        let mut c = lock(&self.inner);
        for _ in 0..n {
            c.mine_one();
        }
    }

    /// Drops the last `depth` blocks: their effects are undone, their
    /// receipts gone, their transactions back in the pool.
    pub fn reorg(&self, depth: usize) {
        let mut c = lock(&self.inner);
        for _ in 0..depth {
            let Some((before, txs, _)) = c.blocks.pop() else { break };
            c.ledger = before;
            for tx in txs {
                c.receipts.remove(&tx.hash);
                c.pool.push(tx);
            }
        }
    }

    /// Drops the last `depth` blocks, their effects undone and their
    /// transactions forgotten (not back in the pool), but keeps serving
    /// their receipts (a node whose receipt index lags the reorganisation):
    /// stale receipts whose block hash is not canonical.
    pub fn reorg_keeping_receipts(&self, depth: usize) {
        let mut c = lock(&self.inner);
        for _ in 0..depth {
            let Some((before, _, _)) = c.blocks.pop() else { break };
            c.ledger = before;
        }
    }

    /// Transactions waiting in the pool.
    pub fn pool_len(&self) -> usize {
        lock(&self.inner).pool.len()
    }

    fn up(&self) -> Result<std::sync::MutexGuard<'_, Chain>, EthError> {
        let c = lock(&self.inner);
        if c.down { Err(EthError::Unreachable("connection refused (simulated)".into())) } else { Ok(c) }
    }
}

fn refused(m: &str) -> EthError {
    EthError::Node(m.to_owned())
}

impl Chain {
    fn mined_nonce(&self, who: &Address) -> u64 {
        self.ledger.nonces.get(who).copied().unwrap_or(0)
    }

    fn gas_of(&self, to: &Address, data: &Bytes) -> u64 {
        if self.token_contracts.contains(to) { TOKEN_GAS } else { 21_000 + 16 * data.len() as u64 }
    }

    fn mine_one(&mut self) {
        let before = self.ledger.clone();
        let mut included = Vec::new();
        self.mined_ever += 1;
        let block = self.blocks.len() as u64 + 1;
        let block_hash = alloy::primitives::keccak256([block.to_be_bytes(), self.mined_ever.to_be_bytes()].concat());
        loop {
            let next = self.pool.iter().position(|t| t.nonce == self.mined_nonce(&t.from));
            let Some(i) = next else { break };
            let tx = self.pool.remove(i);
            let (success, logs) = self.execute(&tx);
            let receipt = Receipt { block, block_hash, success, contract: None, from: tx.from, to: Some(tx.to), logs };
            self.receipts.insert(tx.hash, receipt);
            included.push(tx);
        }
        self.blocks.push((before, included, block_hash));
    }

    /// Applies `tx`'s effects; whether it succeeded (fees are paid either
    /// way) and its logs (a token's `Transfer` event).
    fn execute(&mut self, tx: &PoolTx) -> (bool, Vec<Log>) {
        let price = tx.max_fee.min(self.base_fee + tx.tip);
        let fee = U256::from(self.gas_of(&tx.to, &tx.data)) * U256::from(price);
        let l = &mut self.ledger;
        *l.nonces.entry(tx.from).or_default() += 1;
        let from = l.balances.entry(tx.from).or_default();
        *from = from.saturating_sub(fee.saturating_add(tx.value));
        let to = l.balances.entry(tx.to).or_default();
        *to = to.saturating_add(tx.value);
        if !self.token_contracts.contains(&tx.to) {
            return (true, Vec::new());
        }
        let Ok(call) = IERC20::transferCall::abi_decode(&tx.data) else { return (false, Vec::new()) };
        let held = self.ledger.tokens.get(&(tx.to, tx.from)).copied().unwrap_or_default();
        if held < call.amount {
            return (false, Vec::new());
        }
        self.ledger.tokens.insert((tx.to, tx.from), held - call.amount);
        let theirs = self.ledger.tokens.entry((tx.to, call.to)).or_default();
        *theirs = theirs.saturating_add(call.amount);
        let event = IERC20::Transfer { from: tx.from, to: call.to, value: call.amount };
        let topics = event.encode_topics().into_iter().map(|t| t.0).collect();
        (true, vec![Log { address: tx.to, topics, data: event.encode_data().into() }])
    }

    fn accept(&mut self, raw: &[u8]) -> Result<(), EthError> {
        let env = TxEnvelope::decode_2718(&mut &raw[..]).map_err(|e| refused(&format!("undecodable: {e}")))?;
        let TxEnvelope::Eip1559(signed) = &env else { return Err(refused("only EIP-1559 transactions here")) };
        let hash = *signed.hash();
        if self.pool.iter().any(|t| t.hash == hash) {
            return Ok(()); // already known
        }
        let tx = signed.tx();
        if tx.chain_id != self.chain_id {
            return Err(refused("invalid chain id"));
        }
        let from = recover(&signed.signature_hash(), signed.signature()).map_err(|e| refused(&e.to_string()))?;
        if tx.nonce < self.mined_nonce(&from) {
            return Err(refused("nonce too low"));
        }
        let to = env.to().ok_or_else(|| refused("contract creation is not simulated"))?;
        let cost = U256::from(tx.gas_limit) * U256::from(tx.max_fee_per_gas) + tx.value;
        if self.ledger.balances.get(&from).copied().unwrap_or_default() < cost {
            return Err(refused("insufficient funds for gas * price + value"));
        }
        let entry = PoolTx {
            hash,
            from,
            nonce: tx.nonce,
            to,
            value: tx.value,
            data: tx.input.clone(),
            max_fee: tx.max_fee_per_gas,
            tip: tx.max_priority_fee_per_gas,
        };
        if let Some(i) = self.pool.iter().position(|t| t.from == from && t.nonce == tx.nonce) {
            let old = &self.pool[i];
            if entry.max_fee < old.max_fee + old.max_fee / 10 || entry.tip < old.tip + old.tip / 10 {
                return Err(refused("replacement transaction underpriced"));
            }
            self.pool[i] = entry;
        } else {
            self.pool.push(entry);
        }
        if self.automine {
            self.mine_one();
        }
        Ok(())
    }
}

impl EthereumRpc for MemoryEthereum {
    async fn chain_id(&self) -> Result<u64, EthError> {
        Ok(self.up()?.chain_id)
    }
    async fn block_number(&self) -> Result<u64, EthError> {
        Ok(self.up()?.blocks.len() as u64)
    }
    async fn pending_nonce(&self, who: Address) -> Result<u64, EthError> {
        let c = self.up()?;
        let mut n = c.mined_nonce(&who);
        while c.pool.iter().any(|t| t.from == who && t.nonce == n) {
            n += 1;
        }
        Ok(n)
    }
    async fn balance(&self, who: Address) -> Result<U256, EthError> {
        Ok(self.up()?.ledger.balances.get(&who).copied().unwrap_or_default())
    }
    async fn token_balance(&self, token: Address, who: Address) -> Result<U256, EthError> {
        let c = self.up()?;
        if !c.token_contracts.contains(&token) {
            return Err(EthError::Unexpected(format!("{token} did not answer as an ERC-20 contract")));
        }
        Ok(c.ledger.tokens.get(&(token, who)).copied().unwrap_or_default())
    }
    async fn fees(&self) -> Result<Fees, EthError> {
        let base = self.up()?.base_fee;
        let tip = 1_000_000_000;
        Ok(Fees { max_fee_per_gas: base * 2 + tip, priority_fee_per_gas: tip })
    }
    async fn base_fee(&self) -> Result<u128, EthError> {
        Ok(self.up()?.base_fee)
    }
    async fn token_decimals(&self, token: Address) -> Result<u8, EthError> {
        let c = self.up()?;
        c.token_meta.get(&token).and_then(|(d, _)| *d).ok_or_else(|| refused("execution reverted"))
    }
    async fn token_symbol(&self, token: Address) -> Result<String, EthError> {
        let c = self.up()?;
        c.token_meta.get(&token).map(|(_, s)| s.clone()).ok_or_else(|| refused("execution reverted"))
    }
    async fn has_code(&self, who: Address) -> Result<bool, EthError> {
        Ok(self.up()?.token_contracts.contains(&who))
    }
    async fn estimate_gas(&self, from: Address, call: &Call) -> Result<u64, EthError> {
        let c = self.up()?;
        if c.token_contracts.contains(&call.to) {
            let t = IERC20::transferCall::abi_decode(&call.data).map_err(|_| refused("execution reverted"))?;
            if c.ledger.tokens.get(&(call.to, from)).copied().unwrap_or_default() < t.amount {
                return Err(refused("execution reverted: ERC20InsufficientBalance"));
            }
        }
        Ok(c.gas_of(&call.to, &call.data))
    }
    async fn send_raw(&self, raw: &[u8]) -> Result<(), EthError> {
        let mut c = self.up()?;
        let hash = alloy::primitives::keccak256(raw);
        let canonical = |r: &Receipt| {
            let i = usize::try_from(r.block).ok().and_then(|n| n.checked_sub(1));
            i.and_then(|i| c.blocks.get(i)).is_some_and(|(_, _, h)| *h == r.block_hash)
        };
        if c.receipts.get(&hash).is_some_and(canonical) {
            return Err(refused("nonce too low"));
        }
        c.accept(raw)
    }
    async fn block_hash(&self, number: u64) -> Result<Option<B256>, EthError> {
        let c = self.up()?;
        let i = usize::try_from(number).ok().and_then(|n| n.checked_sub(1));
        Ok(i.and_then(|i| c.blocks.get(i)).map(|(_, _, h)| *h))
    }
    async fn receipt(&self, tx: B256) -> Result<Option<Receipt>, EthError> {
        Ok(self.up()?.receipts.get(&tx).cloned())
    }
}

impl crate::ports::conformance::ChainControl for MemoryEthereum {
    fn chain_id(&self) -> u64 {
        lock(&self.inner).chain_id
    }
    async fn fund(&self, who: Address, wei: U256) {
        MemoryEthereum::fund(self, who, wei);
    }
    async fn deploy_token(&self, holder: Address) -> Address {
        MemoryEthereum::deploy_token(self, holder, U256::from(1_000_000_000u64))
    }
    async fn set_automine(&self, on: bool) {
        MemoryEthereum::set_automine(self, on);
    }
    async fn mine(&self, n: u64) {
        MemoryEthereum::mine(self, n);
    }
}
