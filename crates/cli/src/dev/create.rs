//! A fresh deployment: anvil and the test token, the CA and certificates,
//! keys, identities, phrases, genesis, the boxctl profile and the configs.

use super::procs::{Started, free_port};
use super::stack::*;
use super::start::start_anvil;
use super::{DevError, Programs, at};
use box_core::crypto::SecretKey;
use box_core::typed::{Genesis, GenesisAsset, GenesisNode};
use box_core::{Address, B256, U256};
use box_ops::role::CertRole;
use box_ops::{certs, keyfile};
use rand_core::{OsRng, RngCore, UnwrapErr};
use std::path::{Path, PathBuf};

/// Writes a fresh deployment into `dir` (absolute): anvil runs, the token is
/// deployed, every file is written. Every path written into a file is
/// relative to that file (see `box_ops::paths`), so the directory can be
/// used from anywhere.
pub(super) async fn create(dir: &Path, programs: &Programs) -> Result<Stack, DevError> {
    for sub in ["tls", "keys", "logs", "anvil", "signer", "gateway", "node-1", "node-2", "node-3"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(format!("cannot create {}", dir.join(sub).display())))?;
    }
    let state = DevState {
        anvil_port: free_port()?,
        node_ports: vec![free_port()?, free_port()?, free_port()?],
        gateway_port: free_port()?,
        token: Address::ZERO,
        wallet: None,
        funded: false,
        pids: Pids::default(),
        removed: Vec::new(),
    };
    // The public chain first: the token's address goes into the genesis.
    let mut stack = Stack {
        dir: dir.to_owned(),
        state,
        genesis: placeholder_genesis(),
        programs: programs.clone(),
        started: Started::default(),
        signer_log_from: 0,
    };
    let log = stack.log("anvil");
    start_anvil(&mut stack).map_err(at("starting anvil", &log))?;
    let deployed = async {
        let chain = stack.chain().await?;
        chain.deploy_token(U256::from(TOKEN_SUPPLY) * U256::from(10u64).pow(U256::from(18u64))).await
    };
    match deployed.await {
        Ok(token) => stack.state.token = token,
        Err(e) => return Err(stack.fail(e.during("deploying the test ERC-20").with_log(&log)).await),
    }
    if let Err(e) = write_files(&mut stack) {
        return Err(stack.fail(e.during("writing the deployment's files")).await);
    }
    Ok(stack)
}

/// The CA and certificates, keys, identities, phrases, genesis, profile and configs.
fn write_files(stack: &mut Stack) -> Result<(), DevError> {
    let dir = stack.dir.clone();
    let tls = dir.join("tls");
    certs::init_ca(&tls, "BOX development CA").map_err(io("development CA"))?;
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    // Each certificate names its role: the nodes serve each only what it needs.
    let roles = [
        ("node-1", CertRole::Node(1)),
        ("node-2", CertRole::Node(2)),
        ("node-3", CertRole::Node(3)),
        ("signer", CertRole::Signer),
        ("gateway", CertRole::Gateway),
        ("gateway-client", CertRole::Gateway),
    ];
    for (name, role) in roles {
        certs::issue(&tls, &tls, name, role, &hosts).map_err(io(format!("certificate for {name}")))?;
    }
    let keys = dir.join("keys");
    for name in ["node-1", "node-2", "node-3", "signer"] {
        keyfile::generate(&keys.join(format!("{name}.json")), random32()?).map_err(io(format!("key {name}")))?;
    }
    // People act through boxctl: their keys are keystore v3 files in the
    // profile (with password files: a development deployment only).
    let profile_path = dir.join(PROFILE);
    let mut identities = std::collections::BTreeMap::new();
    let mut holders = Vec::new();
    for name in KEY_HOLDERS.iter().chain(PEOPLE.iter()) {
        let key = SecretKey::from_bytes(&random32()?).map_err(io("a fresh key"))?;
        if KEY_HOLDERS.contains(name) {
            holders.push(key.address());
        }
        let id = crate::profile::write_dev_identity(&dir.join("identities"), name, &key)
            .map_err(io(format!("identity {name}")))?;
        identities.insert((*name).to_owned(), id.written_for(&profile_path).map_err(io("the boxctl profile"))?);
    }
    let mut rng = UnwrapErr(OsRng);
    for holder in KEY_HOLDERS {
        let phrase: Vec<&str> = (0..6).map(|_| WORDS[(rng.next_u32() % 64) as usize]).collect();
        write_secret(&keys.join(format!("{holder}.phrase")), &phrase.join(" "))?;
    }
    let load = |n: &str| keyfile::load(&keys.join(format!("{n}.json"))).map_err(io(format!("key {n}")));
    let genesis = Genesis {
        deploymentId: B256::from(random32()?),
        chainId: CHAIN_ID,
        keyHolders: holders,
        nodes: (0..3)
            .map(|i| {
                Ok(GenesisNode {
                    nodeId: i as u64 + 1,
                    endpoint: format!("127.0.0.1:{}", stack.state.node_ports[i]),
                    account: load(&format!("node-{}", i + 1))?.address(),
                })
            })
            .collect::<Result<_, DevError>>()?,
        signer: load("signer")?.address(),
        assets: vec![GenesisAsset { token: stack.state.token, symbol: "BOXT".into(), decimals: 18 }],
        time: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
    };
    write(&dir.join("genesis.json"), &serde_json::to_string_pretty(&genesis).map_err(io("genesis"))?)?;
    stack.genesis = genesis;
    let profile = crate::profile::ProfileFile {
        gateway: stack.gateway_url(),
        ca: PathBuf::from("tls/ca.pem"),
        genesis: PathBuf::from("genesis.json"),
        default_identity: Some("admin".into()),
        identities,
    };
    profile.save(&profile_path).map_err(io("the boxctl profile"))?;
    write_configs(stack)?;
    stack.save()
}

fn placeholder_genesis() -> Genesis {
    Genesis {
        deploymentId: B256::ZERO,
        chainId: CHAIN_ID,
        keyHolders: vec![],
        nodes: vec![],
        signer: Address::ZERO,
        assets: vec![],
        time: 0,
    }
}

fn write_configs(s: &Stack) -> Result<(), DevError> {
    let peers: String = (0..3)
        .map(|i| {
            format!("[[peers]]\nid = {}\naddr = \"127.0.0.1:{}\"\nrole = \"voter\"\n\n", i + 1, s.state.node_ports[i])
        })
        .collect();
    for i in 0..3 {
        let id = i + 1;
        let text = format!(
            "# box-node {id} of the development deployment (boxctl dev up).\nid = {id}\nlisten = \"127.0.0.1:{port}\"\nrole = \"voter\"\n\
             data_dir = \"data\"\ngenesis = \"../genesis.json\"\naccount_key = \"../keys/node-{id}.json\"\nseal_interval_ms = 100\n\n\
             [tls]\nca = \"../tls/ca.pem\"\ncert = \"../tls/node-{id}.pem\"\nkey = \"../tls/node-{id}.key\"\n\n{peers}",
            port = s.state.node_ports[i],
        );
        write(&s.dir.join(format!("node-{id}/node.toml")), &text)?;
    }
    let nodes: Vec<String> = s.state.node_ports.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let signer = format!(
        "# box-signer of the development deployment (boxctl dev up).\ndata_dir = \"data\"\ngenesis = \"../genesis.json\"\n\
         identity_key = \"../keys/signer.json\"\nnodes = [{}]\nlock_after_failures = 3\n\n\
         [tls]\nca = \"../tls/ca.pem\"\ncert = \"../tls/signer.pem\"\nkey = \"../tls/signer.key\"\n\n\
         [ethereum]\nrpc = \"{}\"\nchain_id = {CHAIN_ID}\nconfirmations = 1\npoll_ms = 200\nreplace_after_secs = 30\n",
        nodes.join(", "),
        s.anvil_url(),
    );
    write(&s.dir.join("signer/signer.toml"), &signer)?;
    let admin = s.key("admin")?.address();
    let gateway = format!(
        "# box-gateway of the development deployment (boxctl dev up).\nlisten = \"127.0.0.1:{}\"\ndata_dir = \"data\"\n\
         genesis = \"../genesis.json\"\nadmins = [\"{admin}\"]\neth_rpc = \"{}\"\n\n\
         [tls]\ncert = \"../tls/gateway.pem\"\nkey = \"../tls/gateway.key\"\n\n\
         [chain]\nca = \"../tls/ca.pem\"\ncert = \"../tls/gateway-client.pem\"\nkey = \"../tls/gateway-client.key\"\n",
        s.state.gateway_port,
        s.anvil_url(),
    );
    write(&s.dir.join("gateway/gateway.toml"), &gateway)
}
