//! The one place the signer makes a transaction. What it calls comes only
//! from an [`AuthorizedTransfer`] (box-core's verdict on a notarized
//! transfer) or from the anchoring of a flow the verified chain shows
//! authorized; the signature comes from the locked wallet key for the
//! duration of one call.

use crate::locked::LockedKey;
use box_core::crypto::SecretKey;
use box_core::decision::{AuthorizedTransfer, Payment};
use box_core::ids::FlowHash;
use box_core::{Address, B256, Signature, U256};
use box_eth::{Bytes, Call, Fees, SignedTx, Unsigned, erc20};

/// What a transaction of the signer does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Executes an authorized transfer: a plain ETH transfer, or the token's
    /// `transfer(to, amount)`.
    Transfer(Box<AuthorizedTransfer>),
    /// Anchors a flow: zero value from the wallet to itself, the flow hash
    /// as data, on chain `chain_id`.
    Anchor {
        /// The hot wallet.
        wallet: Address,
        /// The flow.
        flow: FlowHash,
        /// The public chain (the signer's configuration).
        chain_id: u64,
    },
    /// Cancels a stuck transaction: zero value from the wallet to itself,
    /// no data, on the stuck transaction's nonce. Moves nothing; only frees
    /// the nonce.
    Cancel {
        /// The hot wallet.
        wallet: Address,
        /// The public chain (the signer's configuration).
        chain_id: u64,
    },
}

impl Payload {
    /// What the transaction calls.
    pub fn call(&self) -> Call {
        match self {
            Self::Transfer(a) => match a.payment() {
                Payment::Eth { to, amount } => Call { to, value: amount, data: Bytes::new() },
                Payment::Erc20 { token, to, amount } => erc20::transfer(token, to, amount),
            },
            Self::Anchor { wallet, flow, .. } => {
                Call { to: *wallet, value: U256::ZERO, data: Bytes::copy_from_slice(flow.0.as_slice()) }
            }
            Self::Cancel { wallet, .. } => Call { to: *wallet, value: U256::ZERO, data: Bytes::new() },
        }
    }

    /// The chain the transaction is for.
    pub fn chain_id(&self) -> u64 {
        match self {
            Self::Transfer(a) => a.chain_id().0,
            Self::Anchor { chain_id, .. } | Self::Cancel { chain_id, .. } => *chain_id,
        }
    }
}

/// A key that signs a transaction hash: the wallet key in locked memory.
pub trait TxSigner {
    /// The wallet key's signature over `hash`. Fails only if the key bytes
    /// are not a valid secp256k1 scalar.
    fn sign_hash(&self, hash: &B256) -> Result<Signature, String>;
}

impl TxSigner for LockedKey {
    fn sign_hash(&self, hash: &B256) -> Result<Signature, String> {
        self.with_wallet(|w| SecretKey::from_bytes(w).map(|k| k.sign_hash(hash)).map_err(|e| e.to_string()))
    }
}

/// Signs the EIP-1559 transaction for `payload` with `nonce`, `gas` and
/// `fees`. Checks nothing: the caller decided (box-core's `authorize`, the
/// fee cap) before calling.
pub fn sign(key: &dyn TxSigner, nonce: u64, gas: u64, fees: Fees, payload: &Payload) -> Result<SignedTx, String> {
    let tx = Unsigned::call(payload.chain_id(), nonce, gas, fees, &payload.call());
    let signature = key.sign_hash(&tx.signing_hash())?;
    Ok(tx.into_signed(signature))
}
