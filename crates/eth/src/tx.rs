//! EIP-1559 transactions: what they call, their fees, their encoding. No key
//! lives here: callers sign [`Unsigned::signing_hash`] with their own key.

use alloy::consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy::eips::eip2718::Encodable2718;
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256};

/// What a transaction calls: a recipient, wei and calldata. Says nothing
/// about whether anyone may send it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Recipient (the token contract for ERC-20).
    pub to: Address,
    /// Wei sent.
    pub value: U256,
    /// Calldata.
    pub data: Bytes,
}

/// Fee parameters of one EIP-1559 transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// `maxFeePerGas`, wei.
    pub max_fee_per_gas: u128,
    /// `maxPriorityFeePerGas`, wei.
    pub priority_fee_per_gas: u128,
}

/// An EIP-1559 transaction waiting for its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsigned(TxEip1559);

impl Unsigned {
    /// A transaction on chain `chain_id` with `nonce`, `gas` and `fees` that
    /// makes `call`.
    pub fn call(chain_id: u64, nonce: u64, gas: u64, fees: Fees, call: &Call) -> Self {
        Self(TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.priority_fee_per_gas,
            to: TxKind::Call(call.to),
            value: call.value,
            access_list: Default::default(),
            input: call.data.clone(),
        })
    }

    /// A contract creation with `code` (creation bytecode and constructor
    /// arguments).
    pub fn create(chain_id: u64, nonce: u64, gas: u64, fees: Fees, code: Bytes) -> Self {
        Self(TxEip1559 {
            chain_id,
            nonce,
            gas_limit: gas,
            max_fee_per_gas: fees.max_fee_per_gas,
            max_priority_fee_per_gas: fees.priority_fee_per_gas,
            to: TxKind::Create,
            value: U256::ZERO,
            access_list: Default::default(),
            input: code,
        })
    }

    /// The hash the sender signs.
    pub fn signing_hash(&self) -> B256 {
        self.0.signature_hash()
    }

    /// The signed transaction with `signature` over [`Unsigned::signing_hash`].
    /// Does not check who signed: a wrong key makes a transaction of
    /// another sender, which the node rejects or executes as that sender.
    pub fn into_signed(self, signature: Signature) -> SignedTx {
        let envelope: TxEnvelope = self.0.into_signed(signature).into();
        SignedTx { hash: *envelope.tx_hash(), raw: envelope.encoded_2718().into() }
    }
}

/// A signed transaction ready to broadcast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTx {
    /// EIP-2718 bytes.
    pub raw: Bytes,
    /// Transaction hash.
    pub hash: B256,
}
