//! The node's raft storage (the redb log store and the state machine) passes
//! openraft's own storage test suite (`openraft::testing::Suite`): the log,
//! the vote, purging and truncation, membership from log and state machine,
//! the initial state a restarted node computes, applying blank and membership
//! entries, and building, installing and reading snapshots.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use box_chain::log_store::LogStore;
use box_chain::state_machine::StateMachine;
use box_chain::types::TypeConfig;
use box_core::B256;
use box_core::typed::{Genesis, GenesisNode};
use box_testkit::key;
use openraft::StorageError;
use openraft::testing::{StoreBuilder, Suite};

/// Fresh storage in a temp dir per suite case; the dir lives as long as the guard.
struct RedbStorage;

fn genesis() -> Genesis {
    Genesis {
        deploymentId: B256::repeat_byte(0x5E),
        chainId: 31337,
        keyHolders: (0..3).map(|i| key(&format!("suite-holder-{i}")).address()).collect(),
        nodes: vec![GenesisNode { nodeId: 1, endpoint: "127.0.0.1:1".into(), account: key("suite-node").address() }],
        signer: key("suite-signer").address(),
        assets: vec![],
        time: 1_800_000_000,
    }
}

impl StoreBuilder<TypeConfig, LogStore, StateMachine, tempfile::TempDir> for RedbStorage {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().unwrap();
        let log = LogStore::open(&dir.path().join("raft.redb")).unwrap();
        let sm = StateMachine::open(&dir.path().join("state.redb"), genesis()).unwrap();
        Ok((dir, log, sm))
    }
}

#[test]
fn the_raft_storage_passes_openrafts_storage_suite() {
    if let Err(e) = Suite::test_all(RedbStorage) {
        panic!("openraft's storage suite failed: {e}");
    }
}
