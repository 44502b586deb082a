//! A session: one deployment (from the profile) and one identity (a key).
//!
//! Every role operation takes a [`Session`]. The domain everything is signed
//! under comes from the profile's genesis, never from the gateway; the
//! gateway's own account of the deployment is compared with it once per session.

use crate::error::{CliError, CliResult};
use crate::profile::{IdentityChoice, Profile};
use box_api::Client;
use box_core::Address;
use box_core::crypto::SecretKey;
use box_core::typed::{Domain, Genesis};
use std::sync::atomic::{AtomicBool, Ordering};

/// One identity talking to one deployment.
#[derive(Debug)]
pub struct Session {
    profile: Profile,
    client: Client,
    key: SecretKey,
    checked: AtomicBool,
}

impl Session {
    /// A session acting as `key` on the deployment of `profile`.
    pub fn new(profile: Profile, key: SecretKey) -> CliResult<Self> {
        let domain = profile.genesis.domain();
        let client = Client::new(&profile.file.gateway, &profile.ca_pem, key.clone(), domain)?;
        Ok(Self { profile, client, key, checked: AtomicBool::new(false) })
    }

    /// Loads the identity `choice` selects from `profile` (asking for its password if needed).
    pub fn open(profile: Profile, choice: &IdentityChoice) -> CliResult<Self> {
        let key = crate::profile::unlock(&profile, choice)?;
        Self::new(profile, key)
    }

    /// The same deployment as another identity.
    pub fn with_key(&self, key: SecretKey) -> CliResult<Self> {
        Self::new(self.profile.clone(), key)
    }

    /// The profile.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// The pinned genesis.
    pub fn genesis(&self) -> &Genesis {
        &self.profile.genesis
    }

    /// The EIP-712 domain (from the genesis).
    pub fn domain(&self) -> Domain {
        self.profile.genesis.domain()
    }

    /// Who this session signs as.
    pub fn address(&self) -> Address {
        self.key.address()
    }

    /// The key (for ceremony messages, which are signed outside the client).
    pub(crate) fn key(&self) -> &SecretKey {
        &self.key
    }

    /// The gateway client, after checking once that the gateway serves the
    /// deployment of the pinned genesis.
    pub async fn client(&self) -> CliResult<&Client> {
        if !self.checked.load(Ordering::Relaxed) {
            let d = self.client.deployment().await?;
            let g = &self.profile.genesis;
            if d.chain_id.0 != g.chainId || d.deployment_id.0 != g.deploymentId {
                return Err(CliError::Untrusted(format!(
                    "the gateway at {} serves deployment {} on chain {}, but the profile's genesis is deployment {} on chain {}",
                    self.profile.file.gateway, d.deployment_id, d.chain_id, g.deploymentId, g.chainId
                )));
            }
            self.checked.store(true, Ordering::Relaxed);
        }
        Ok(&self.client)
    }

    /// The key-holder slot of `who` in the genesis (0-based), if a key holder.
    pub fn holder_slot(&self, who: &Address) -> Option<u8> {
        self.profile.genesis.keyHolders.iter().position(|k| k == who).and_then(|i| u8::try_from(i).ok())
    }
}
