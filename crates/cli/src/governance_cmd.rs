//! The governed actions' commands: `keyholder freeze|unfreeze|block|unblock`,
//! `keyholder asset add|remove`, `keyholder addressbook add|remove|list` and `governance list|show|sign`. Each shows
//! what is signed before signing it, and how many signatures the action
//! still needs after (see [`crate::governance`]).

use crate::error::{CliError, CliResult};
use crate::governance::{self, ActionView};
use crate::session::Session;
use crate::ui::{Paint, Ui};
use box_core::address::parse_address;
use box_core::governance::GovernanceAction;
use clap::Subcommand;

/// How a governed action is signed.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct SignOpts {
    /// Sign without asking (on a terminal).
    #[arg(long)]
    pub yes: bool,
    /// Print the eth_signTypedData_v4 JSON of what would be signed (for a wallet) and sign nothing.
    #[arg(long)]
    pub typed_data: bool,
}

/// The key holders' governed actions (under `boxctl keyholder`).
#[derive(Debug, Subcommand)]
pub enum Governed {
    /// Freeze an employee: their applications and their transfers not yet
    /// executed are refused (any one key holder).
    Freeze {
        /// The employee's address.
        employee: String,
        /// Why (signed and recorded on the chain).
        #[arg(long)]
        reason: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// Unfreeze an employee: co-signs the open unfreeze, or starts one; in
    /// effect once every key holder signed.
    Unfreeze {
        /// The employee's address.
        employee: String,
        /// Why (signed; optional).
        #[arg(long, default_value = "")]
        reason: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// Block a destination: no transfer to it is notarized or signed (any
    /// one key holder).
    Block {
        /// The destination address.
        address: String,
        /// Why (signed and recorded on the chain).
        #[arg(long)]
        reason: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// Unblock a destination: co-signs the open unblock, or starts one; in
    /// effect once every key holder signed.
    Unblock {
        /// The destination address.
        address: String,
        /// Why (signed; optional).
        #[arg(long, default_value = "")]
        reason: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// Register or remove an ERC-20 asset.
    #[command(subcommand)]
    Asset(AssetCmd),
    /// The address book: the only destinations flows with `address_book_only` pay.
    #[command(subcommand)]
    Addressbook(AddressBookCmd),
    /// Offboard an employee in one command: freeze them (signed, with the
    /// reason), revoke their escrowed key and cancel their applications
    /// still collecting approvals with the reason.
    Offboard {
        /// The person's address.
        employee: String,
        /// Why (signed in the freeze; shown on each cancelled application).
        #[arg(long)]
        reason: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
}

/// `keyholder asset …`.
#[derive(Debug, Subcommand)]
pub enum AssetCmd {
    /// Register an ERC-20: reads its symbol and decimals from the chain and
    /// shows them before signing; in effect once every key holder signed
    /// (each runs the same command, or `boxctl governance sign HASH`).
    Add {
        /// The token contract.
        contract: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// Remove a registered ERC-20: no transfer of it is signed any more
    /// (any one key holder).
    Remove {
        /// The token contract.
        contract: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
}

/// `keyholder addressbook …`.
#[derive(Debug, Subcommand)]
pub enum AddressBookCmd {
    /// List a destination: in effect once every key holder signed (each runs
    /// the same command, or `boxctl governance sign HASH`).
    Add {
        /// The destination address.
        address: String,
        /// What people call it (signed and shown to everyone).
        #[arg(long)]
        label: String,
        /// Only for this flow (its hash); default: every flow.
        #[arg(long, value_name = "HASH")]
        flow: Option<String>,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// Remove a destination (any one key holder).
    Remove {
        /// The destination address.
        address: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
    /// The address book as the verified chain holds it.
    List,
}

/// `boxctl governance …`: the actions and their signatures.
#[derive(Debug, Subcommand)]
pub enum Governance {
    /// Governance actions still collecting signatures (`--all`: every one).
    List {
        /// Every action, decided ones included.
        #[arg(long)]
        all: bool,
    },
    /// One action: what is signed, who signed, what it still needs.
    Show {
        /// The action's hash.
        hash: String,
    },
    /// Add your signature (key holder) to an action still collecting them.
    Sign {
        /// The action's hash.
        hash: String,
        /// --yes, --typed-data.
        #[command(flatten)]
        sign: SignOpts,
    },
}

fn address(what: &str, text: &str) -> CliResult<box_core::Address> {
    parse_address(text).map_err(|e| CliError::usage(format!("{what}: {e}")))
}

fn hash(text: &str) -> CliResult<box_core::B256> {
    text.parse().map_err(|_| CliError::usage(format!("{text:?} is not an action hash (0x and 64 hex digits)")))
}

/// Runs a `keyholder` governed action.
pub async fn keyholder(ui: &Ui, g: Governed, s: &Session) -> CliResult<()> {
    crate::keyholder::my_slot(s, None)?;
    if let Governed::Offboard { employee, reason, sign } = g {
        let who = address("EMPLOYEE", &employee)?;
        let freeze = governance::freeze_action(who, &reason)?;
        if sign.typed_data {
            return crate::typed_data::print(&governance::typed_data(s, &freeze)?);
        }
        show_and_confirm(s, &freeze, sign.yes)?;
        let (v, out) = governance::offboard(s, &freeze, &reason).await?;
        let json = serde_json::json!({ "freeze": v, "gateway": out });
        return ui.emit(&json, || {
            ui.done(&format!("signed: {}", v.what));
            ui.line(&format!("  {}", v.progress()));
            let revoked = if out.keystore_revoked { "revoked" } else { "none was escrowed" };
            ui.done(&format!("escrowed key: {revoked}"));
            ui.done(&format!("{} pending application(s) cancelled", out.cancelled.len()));
            for id in &out.cancelled {
                ui.line(&format!("  {id}"));
            }
        });
    }
    let (action, sign) = match g {
        Governed::Freeze { employee, reason, sign } => {
            (governance::freeze_action(address("EMPLOYEE", &employee)?, &reason)?, sign)
        }
        Governed::Unfreeze { employee, reason, sign } => {
            (governance::unfreeze_action(s, address("EMPLOYEE", &employee)?, &reason).await?, sign)
        }
        Governed::Block { address: a, reason, sign } => {
            (governance::block_action(address("ADDRESS", &a)?, &reason)?, sign)
        }
        Governed::Unblock { address: a, reason, sign } => {
            (governance::unblock_action(s, address("ADDRESS", &a)?, &reason).await?, sign)
        }
        Governed::Asset(AssetCmd::Add { contract, sign }) => {
            let token = governance::token(s, address("CONTRACT", &contract)?).await?;
            eprintln!(
                "the chain says: {} has symbol {:?} and {} decimals",
                token.token.to_checksum(None),
                token.symbol,
                token.decimals
            );
            (governance::register_action(s, &token).await?, sign)
        }
        Governed::Asset(AssetCmd::Remove { contract, sign }) => {
            (governance::remove_action(s, address("CONTRACT", &contract)?).await?, sign)
        }
        Governed::Addressbook(AddressBookCmd::Add { address: a, label, flow, sign }) => {
            let flow = match flow {
                Some(h) => {
                    let (out, f) = crate::keyholder::verified_flow(s, box_core::ids::FlowHash(hash(&h)?)).await?;
                    if !f.addressBookOnly {
                        ui.warn(&format!(
                            "flow {} ({}) does not set address_book_only: it pays any destination the other rules allow",
                            out.hash, f.name
                        ));
                    }
                    Some(out.hash)
                }
                None => None,
            };
            (crate::addressbook::add_action(s, address("ADDRESS", &a)?, &label, flow).await?, sign)
        }
        Governed::Addressbook(AddressBookCmd::Remove { address: a, sign }) => {
            (crate::addressbook::remove_action(s, address("ADDRESS", &a)?).await?, sign)
        }
        Governed::Addressbook(AddressBookCmd::List) => {
            let book = crate::addressbook::list(s).await?;
            return ui.emit(&book, || {
                if book.is_empty() {
                    ui.line("the address book is empty");
                }
                for e in &book {
                    ui.line(&crate::addressbook::entry_line(e));
                }
            });
        }
        Governed::Offboard { .. } => return Err(CliError::failed("offboarding is handled above")),
    };
    sign_and_print(ui, s, &action, sign).await
}

/// Runs `governance …`.
pub async fn governance_cmd(ui: &Ui, g: Governance, s: &Session) -> CliResult<()> {
    match g {
        Governance::List { all } => {
            let views = governance::list(s, !all).await?;
            if ui.json {
                return ui.json(&views);
            }
            if views.is_empty() {
                ui.line(if all { "no governance actions" } else { "no governance action is collecting signatures" });
            }
            for v in &views {
                ui.line(&format!("{}  {}", ui.paint(Paint::Bold, &v.out.hash.to_string()), v.what));
                ui.line(&format!("  {}", v.progress()));
            }
            Ok(())
        }
        Governance::Show { hash: h } => {
            let v = governance::show(s, hash(&h)?).await?;
            ui.emit(&v, || print_view(ui, s, &v))
        }
        Governance::Sign { hash: h, sign } => {
            let v = governance::open(s, hash(&h)?).await?;
            sign_and_print(ui, s, &v.action, sign).await
        }
    }
}

fn print_view(ui: &Ui, s: &Session, v: &ActionView) {
    if let Ok(lines) = governance::to_be_signed(s, &v.action) {
        for l in lines.iter().skip(1) {
            ui.line(l);
        }
    }
    ui.line(&format!("{} ({})", v.what, v.kind));
    let signers: Vec<String> = v.out.signers.iter().map(|a| a.to_checksum(None)).collect();
    ui.line(&format!("signed by: {}", if signers.is_empty() { "nobody yet".to_owned() } else { signers.join(", ") }));
    ui.line(&v.progress());
}

/// Shows what is signed (stderr), asks on a terminal, signs, and prints
/// how many signatures it still needs.
async fn sign_and_print(ui: &Ui, s: &Session, action: &GovernanceAction, sign: SignOpts) -> CliResult<()> {
    if sign.typed_data {
        return crate::typed_data::print(&governance::typed_data(s, action)?);
    }
    show_and_confirm(s, action, sign.yes)?;
    let v = governance::sign_action(s, action).await?;
    ui.emit(&v, || {
        ui.done(&format!("signed: {}", v.what));
        ui.line(&format!("  {}", v.progress()));
        if v.missing() == 0 {
            ui.line(&format!("  action {}", v.out.hash));
        }
    })
}

/// Shows what is signed (stderr) and, on a terminal without `--yes`, asks.
/// With `--typed-data` nothing is signed: see [`sign_and_print`].
fn show_and_confirm(s: &Session, action: &GovernanceAction, yes: bool) -> CliResult<()> {
    for l in governance::to_be_signed(s, action)? {
        eprintln!("{l}");
    }
    if !yes && crate::ui::interactive() && !crate::ui::confirm("Sign this action?")? {
        return Err(CliError::usage("not signed"));
    }
    Ok(())
}
