//! The command line: clap's derive tree. Thin: each command parses its
//! arguments and calls one library function (see [`crate::run`]).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// boxctl: the apps of BOX, a self-hosted custody vault, on the command line.
///
/// Every command acts for one identity (a keystore v3 file) on one deployment
/// (a profile file naming the gateway, its CA and the genesis). See the
/// README of the box-cli crate for the profile format.
#[derive(Debug, Parser)]
#[command(name = "boxctl", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// The profile file (default: $XDG_CONFIG_HOME/box/profile.toml or ~/.config/box/profile.toml).
    #[arg(long, global = true, env = "BOX_PROFILE", value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Act as this identity of the profile.
    #[arg(long = "as", global = true, env = "BOX_AS", value_name = "NAME")]
    pub as_identity: Option<String>,
    /// Act as the key in this keystore v3 file (its password from BOX_PASSWORD or a prompt).
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "as_identity")]
    pub key: Option<PathBuf>,
    /// Print JSON for scripts instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The roles and tools.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Key holder: device enrolment, phrases, flow authorization, pause, resume, panic, paper backup.
    #[command(subcommand)]
    Keyholder(Keyholder),
    /// Admin: register people, issue employee keys, build and submit approval flows.
    #[command(subcommand)]
    Admin(Admin),
    /// Employee: fetch the issued key, apply for transfers, follow them.
    #[command(subcommand)]
    Employee(Employee),
    /// Approver: list what waits for you, approve or reject.
    #[command(subcommand)]
    Approve(Approve),
    /// The deployment's genesis: make it from a plan, check it rule by rule, print its fingerprint.
    #[command(subcommand)]
    Genesis(crate::genesis::GenesisCmd),
    /// Your own key, offline: make a keystore v3 file, or open one to see whose key it is.
    #[command(subcommand)]
    Key(crate::key::Key),
    /// The cluster, the signer, the hot wallet and the transfers at a glance.
    Status,
    /// Governance actions: list, show and sign those collecting signatures.
    #[command(subcommand)]
    Governance(crate::governance_cmd::Governance),
    /// Node operators: add or remove a node (node accounts sign a change file; a node submits it).
    #[command(subcommand)]
    Node(crate::node_cmd::NodeCmd),
    /// Auditor: export the history and verify it offline against the genesis.
    #[command(subcommand)]
    Audit(Audit),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// A complete local deployment on 127.0.0.1 for development.
    #[command(subcommand)]
    Dev(Dev),
    /// Run the whole story (flow, key, transfers, a refusal) against the local deployment
    /// (started first with `dev up` when it is not running).
    Demo(DevRunArgs),
}

/// Where a command waits and which device id it sends.
#[derive(Debug, Clone, Args)]
pub struct CeremonyArgs {
    /// The device id shown on the signer's console (default: boxctl@<hostname>).
    #[arg(long, value_name = "ID")]
    pub device_id: Option<String>,
    /// How long to wait for the signer to take the message, in seconds.
    #[arg(long, default_value_t = 120, value_name = "SECS")]
    pub wait: u64,
}

/// Key-holder commands.
#[derive(Debug, Subcommand)]
pub enum Keyholder {
    /// Enrol this device (your key-holder key) with the one-time code the signer shows on its console.
    Enrol {
        /// The code, e.g. ABCD-EFGH-JKLM.
        #[arg(long)]
        code: String,
        /// Device id and wait.
        #[command(flatten)]
        ceremony: CeremonyArgs,
    },
    /// Send your phrase to the signer: at genesis (checked for strength first) or to unseal.
    ///
    /// The phrase is read without echo from the terminal (twice at genesis),
    /// or from the environment variable BOX_PHRASE for automation. It travels
    /// sealed to the signer's per-boot key, which boxctl checks is signed by
    /// the genesis's signer.
    Phrase {
        /// Device id and wait.
        #[command(flatten)]
        ceremony: CeremonyArgs,
    },
    /// Authorize (sign enable) an approval flow, or disable it with --disable.
    Authorize {
        /// The flow hash.
        flow: String,
        /// Sign disable(flow) instead.
        #[arg(long)]
        disable: bool,
        /// Do not ask for confirmation on a terminal.
        #[arg(long)]
        yes: bool,
        /// Print the eth_signTypedData_v4 JSON of what would be signed (for a wallet) and sign nothing.
        #[arg(long)]
        typed_data: bool,
        /// The flow this one replaces: shows the difference, then also signs disable(OLD).
        #[arg(long, value_name = "OLD", conflicts_with = "disable")]
        replaces: Option<String>,
    },
    /// Pause all transfers (one key holder suffices; recorded on the chain).
    Pause {
        /// Why, recorded on the chain.
        #[arg(long)]
        reason: String,
        /// Print the eth_signTypedData_v4 JSON of what would be signed (for a wallet) and sign nothing.
        #[arg(long)]
        typed_data: bool,
    },
    /// Sign the resumption of transfers (takes effect once every key holder has signed).
    Resume,
    /// Lock the signer now: it zeroizes the wallet key until all key holders unseal again.
    Panic {
        /// Do not ask for confirmation on a terminal.
        #[arg(long)]
        yes: bool,
        /// Device id and wait.
        #[command(flatten)]
        ceremony: CeremonyArgs,
    },
    /// Vouch, with your enrolled device, for another holder's new device so it may re-enrol.
    ///
    /// Signs locally and prints an endorsement for the signer's current boot;
    /// hand it to the holder, who passes it to `keyholder reenrol
    /// --endorsement`. It does not reveal or check their phrase: the signer
    /// does. Without an endorsement, the gateway and the signer refuse a
    /// re-enrolment before any work.
    Endorse {
        /// The key-holder number (1 to N) who re-enrols.
        #[arg(long)]
        slot: u8,
        /// The address of their new device's key.
        #[arg(long, value_name = "ADDRESS")]
        device: String,
    },
    /// Replace a lost device: enrol this key for your slot, proven by your original phrase (BOX_PHRASE or prompt)
    /// and another key holder's endorsement (`keyholder endorse`).
    Reenrol {
        /// Your key-holder number, 1 to N, in the genesis order (as the signer's console counts).
        #[arg(long)]
        slot: u8,
        /// What `boxctl keyholder endorse --slot N --device <this key's address>` printed (0x…).
        #[arg(long, value_name = "0x…")]
        endorsement: String,
        /// Device id and wait.
        #[command(flatten)]
        ceremony: CeremonyArgs,
    },
    /// Governed actions: freeze, unfreeze, block, unblock, asset add|remove.
    #[command(flatten)]
    Governed(crate::governance_cmd::Governed),
    /// Write your phrase and d as QR codes (PNG and SVG, mode 0600) and show them on the terminal, for the paper backup.
    ///
    /// The files are as secret as the phrase: print them, put the paper in
    /// two bank safes, and delete the files. The phrase is read like
    /// `keyholder phrase` reads it (BOX_PHRASE or a no-echo prompt, twice).
    Backup {
        /// d as `box-signer show-backup` (or the signer's terminal at genesis) shows it (0x and 64 hex digits).
        #[arg(long, value_name = "0x…")]
        d: String,
        /// Directory for phrase.png, phrase.svg, d.png and d.svg (created with mode 0700).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Do not show the QR codes on the terminal.
        #[arg(long)]
        no_print: bool,
    },
}

/// Admin commands.
#[derive(Debug, Subcommand)]
pub enum Admin {
    /// Register (or update) a person with their own address.
    Register {
        /// Their address.
        #[arg(long)]
        address: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// employee, approver or auditor (repeat for several).
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// Everyone registered.
    People,
    /// Issue a key: generate it, encrypt it as a keystore v3 file under a fresh random password shown ONCE, register the person, park the file at the gateway.
    IssueKey {
        /// The person's display name.
        #[arg(long)]
        name: String,
        /// employee, approver or auditor (repeat for several; default employee).
        #[arg(long = "role", value_name = "ROLE")]
        roles: Vec<String>,
        /// Also write the encrypted keystore to this file (mode 0600), e.g. to hand it over offline.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Approval flows.
    #[command(subcommand)]
    Flow(Flow),
}

/// Flow commands.
#[derive(Debug, Subcommand)]
pub enum Flow {
    /// Draft a flow from a TOML file (levels, approvers, thresholds, per-asset limits).
    Create {
        /// The flow file (format in the box-cli README).
        #[arg(long)]
        file: PathBuf,
        /// Submit it for notarization right away.
        #[arg(long)]
        submit: bool,
    },
    /// Submit a drafted flow for notarization.
    Submit {
        /// The flow hash.
        hash: String,
    },
    /// Every flow with its status.
    List,
    /// One flow in the TOML format `flow create` reads, with its status.
    Show {
        /// The flow hash.
        hash: String,
    },
    /// Draft the next version of a flow with an approver who leaves replaced (submit it with --submit).
    ReplaceApprover {
        /// The current flow's hash.
        hash: String,
        /// The approver who leaves.
        #[arg(long)]
        approver: String,
        /// Who takes their place.
        #[arg(long = "with", value_name = "ADDRESS")]
        successor: String,
        /// Submit the new version for notarization at once.
        #[arg(long)]
        submit: bool,
    },
}

/// Employee commands.
#[derive(Debug, Subcommand)]
pub enum Employee {
    /// Download the key the admin issued you (once), check the password opens it, and store it (mode 0600).
    ///
    /// The password is the one the admin gave you; it is read from
    /// BOX_PASSWORD or asked without echo. Needs no identity of your own: the
    /// download is proven by a token derived from the password, and works
    /// once; afterwards the gateway serves the file only to your signed
    /// requests (or an admin's). A wrong password spends nothing.
    FetchKey {
        /// Your address, as the admin gave it to you.
        #[arg(long)]
        address: String,
        /// Where to store the keystore file.
        #[arg(long)]
        out: PathBuf,
    },
    /// Apply for a transfer: shows what will be signed, asks on a terminal, signs and sends it.
    ///
    /// Before signing, the amount with its symbol, the destination (EIP-55),
    /// the fee cap and the flow are printed on stderr. On a terminal boxctl
    /// then asks for confirmation (--yes skips the question); without a
    /// terminal (scripts) it prints the same lines and goes on.
    Apply {
        /// ETH, a registered token's symbol, or its contract address.
        #[arg(long)]
        asset: String,
        /// Destination address.
        #[arg(long)]
        to: String,
        /// Amount in whole units, a plain decimal: digits with at most one '.', e.g. 1.5 (no exponent, sign, spaces or separators).
        #[arg(long, value_parser = crate::employee::parse_decimal)]
        amount: box_core::amount::Decimal,
        /// The flow (default: the only active flow that lists you).
        #[arg(long)]
        flow: Option<String>,
        /// Most fee the transfer may spend, in ETH, a plain decimal.
        #[arg(long, default_value = crate::employee::DEFAULT_MAX_FEE, value_parser = crate::employee::parse_decimal)]
        max_fee: box_core::amount::Decimal,
        /// Do not ask for confirmation on a terminal.
        #[arg(long)]
        yes: bool,
        /// Print the eth_signTypedData_v4 JSON of what would be signed (for a wallet) and sign nothing.
        #[arg(long)]
        typed_data: bool,
    },
    /// Your transfers.
    List,
    /// One transfer with its progress.
    Show {
        /// The transfer id.
        id: String,
    },
}

/// Approver commands.
#[derive(Debug, Subcommand)]
pub enum Approve {
    /// Transfers waiting for your approval: amount, destination, applicant, flow, progress per level.
    List,
    /// Approve a transfer at its open level (after checking every signature below it).
    Yes {
        /// The transfer id.
        id: String,
        /// Print the eth_signTypedData_v4 JSON of what would be signed (for a wallet) and sign nothing.
        #[arg(long)]
        typed_data: bool,
    },
    /// Reject a transfer, with a reason the applicant sees.
    Reject {
        /// The transfer id.
        id: String,
        /// Why.
        #[arg(long)]
        reason: String,
    },
}

/// Auditor commands.
#[derive(Debug, Subcommand)]
pub enum Audit {
    /// Write the whole history (genesis and sealed blocks with their certificates) to a file.
    Export {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export offline against the genesis alone (the profile's, or --genesis).
    Verify {
        /// The export file.
        file: PathBuf,
        /// The genesis to verify against (default: the profile's).
        #[arg(long)]
        genesis: Option<PathBuf>,
    },
    /// Keep a verified, read-only replica of the history in DIR (resumes where it stopped).
    Follow {
        /// The replica's directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// One pass up to the gateway's latest block, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between passes.
        #[arg(long, default_value_t = 5, value_name = "SECS")]
        every: u64,
        /// An empty replica starts from the latest state a strict majority of the node registry
        /// (verified from the genesis) attests, read from these nodes, instead of block 1; a refused
        /// state is reported and the replica verifies from the genesis (repeat, or comma-separated).
        #[arg(long = "bootstrap-from", value_delimiter = ',', value_name = "HOST:PORT", requires_all = ["ca", "cert", "cert_key"])]
        bootstrap_from: Vec<String>,
        /// The deployment CA certificate (with --bootstrap-from).
        #[arg(long, value_name = "PEM")]
        ca: Option<PathBuf>,
        /// A certificate of the deployment CA to read the nodes with, e.g. `box:auditor` (with --bootstrap-from).
        #[arg(long, value_name = "PEM")]
        cert: Option<PathBuf>,
        /// That certificate's private key (with --bootstrap-from).
        #[arg(long, value_name = "PEM")]
        cert_key: Option<PathBuf>,
    },
    /// Every transfer (applicant, approvers per level, notarizing nodes, public tx, status, amount) and
    /// every governance action, from the history verified against the genesis.
    Report {
        /// A `boxctl audit export` file (offline); without it the history is fetched from the gateway.
        #[arg(long)]
        file: Option<PathBuf>,
        /// Only what was notarized at or after this time (Unix seconds).
        #[arg(long, default_value_t = 0)]
        from: u64,
        /// Only what was notarized at or before this time (Unix seconds).
        #[arg(long, default_value_t = u64::MAX)]
        to: u64,
        /// Also write the report as CSV to this file (never overwritten).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
}

/// Local deployment commands.
#[derive(Debug, Subcommand)]
pub enum Dev {
    /// Start (or resume) a complete local deployment.
    Up(DevRunArgs),
    /// Stop the local deployment, leaving its data for inspection.
    Down(DirArg),
    /// Add a node to the running local deployment, or remove one.
    #[command(subcommand)]
    Node(DevNode),
}

/// `boxctl dev node`.
#[derive(Debug, Subcommand)]
pub enum DevNode {
    /// Make a new node (certificate, account, config), start it, have every
    /// node account sign its addition, and wait until it is a caught-up voter
    /// that the gateway's registry shows.
    Add(DevRunArgs),
    /// Have a majority of the other node accounts sign a node's removal, wait
    /// until raft and the gateway's registry drop it, and stop its process.
    Remove {
        /// The node id.
        id: u64,
        /// --dir, --bin-dir, --anvil.
        #[command(flatten)]
        dev: DevRunArgs,
    },
}

/// Where the local deployment lives.
#[derive(Debug, Clone, Args)]
pub struct DirArg {
    /// The deployment's directory (relative to the working directory, or absolute).
    #[arg(long, default_value = "box-dev", value_name = "DIR")]
    pub dir: PathBuf,
}

/// Where the local deployment lives and where the programs it runs are.
#[derive(Debug, Clone, Args)]
pub struct DevRunArgs {
    /// The deployment's directory (relative to the working directory, or absolute).
    #[arg(long, default_value = "box-dev", value_name = "DIR")]
    pub dir: PathBuf,
    /// The directory holding box-node, box-gateway and box-signer
    /// [default: beside boxctl's own executable (symbolic links followed), else the PATH].
    #[arg(long, env = "BOX_BIN_DIR", value_name = "DIR")]
    pub bin_dir: Option<PathBuf>,
    /// The anvil binary [default: the BOX checkout's tools/node_modules (installed with
    /// npm on first use; the checkout holding boxctl, or the one it was built from), else the PATH].
    #[arg(long, env = "BOX_ANVIL", value_name = "FILE")]
    pub anvil: Option<PathBuf>,
}
