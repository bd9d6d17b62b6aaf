//! The `hearth` command: parses the command line (argh) and dispatches to `hearth::cmd`.

use std::path::PathBuf;

use argh::FromArgs;
use hearth::cmd;

/// hearth: a Matrix homeserver in one small executable.
#[derive(FromArgs)]
struct Hearth {
    #[argh(subcommand)]
    command: Command,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum Command {
    Check(CheckArgs),
    Demo(DemoArgs),
    Init(InitArgs),
    Serve(ServeArgs),
    User(UserArgs),
    Version(VersionArgs),
}

/// Check federation with a server (default: this one) as other servers see it.
#[derive(FromArgs)]
#[argh(subcommand, name = "check")]
struct CheckArgs {
    /// the server name to check (default: server_name from the config)
    #[argh(positional)]
    server_name: Option<String>,
    /// print the report as JSON
    #[argh(switch)]
    json: bool,
    /// the config file (default: $HEARTH_CONFIG, else the embedded default)
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Start three federating servers on localhost, with users and a shared room (Ctrl-C stops).
#[derive(FromArgs)]
#[argh(subcommand, name = "demo")]
struct DemoArgs {
    /// keep the servers' data in DIR and reuse it next time (default: a temporary folder,
    /// removed at exit)
    #[argh(option)]
    dir: Option<PathBuf>,
    /// federation listens on ports base+1..base+3, clients on base+4..base+6 (default: 8480)
    #[argh(option)]
    base_port: Option<u16>,
}

/// Write a config and a signing key, and print what to publish for federation.
#[derive(FromArgs)]
#[argh(subcommand, name = "init")]
struct InitArgs {
    /// the Matrix server name (the part after the colon in @alice:example.com)
    #[argh(option)]
    server_name: String,
    /// where the database and signing key go (default: ./hearth-data)
    #[argh(option)]
    data_dir: Option<PathBuf>,
    /// the config file to write (default: ./hearth.toml)
    #[argh(option)]
    config: Option<PathBuf>,
    /// host[:port] where other servers reach hearth, when it is not <server-name>:8448
    #[argh(option)]
    federation_host: Option<String>,
}

/// Run the homeserver (no config: a homeserver for localhost on http://127.0.0.1:8008).
#[derive(FromArgs)]
#[argh(subcommand, name = "serve")]
struct ServeArgs {
    /// the config file (default: $HEARTH_CONFIG, else the embedded default)
    #[argh(option)]
    config: Option<PathBuf>,
    /// exit when standard input closes (used by `hearth demo` for its servers)
    #[argh(switch, hidden_help)]
    exit_with_stdin: bool,
}

/// Manage local accounts.
#[derive(FromArgs)]
#[argh(subcommand, name = "user")]
struct UserArgs {
    #[argh(subcommand)]
    command: UserCommand,
}

#[derive(FromArgs)]
#[argh(subcommand)]
enum UserCommand {
    Add(UserAddArgs),
}

/// Create a local account.
#[derive(FromArgs)]
#[argh(subcommand, name = "add")]
struct UserAddArgs {
    /// the user name (localpart), e.g. alice
    #[argh(positional)]
    name: String,
    /// the password
    #[argh(option)]
    password: Option<String>,
    /// read the password from the first line of standard input
    #[argh(switch)]
    password_stdin: bool,
    /// make the account a server admin
    #[argh(switch)]
    admin: bool,
    /// the config file (default: $HEARTH_CONFIG, else the embedded default)
    #[argh(option)]
    config: Option<PathBuf>,
}

/// Print the version.
#[derive(FromArgs)]
#[argh(subcommand, name = "version")]
struct VersionArgs {}

fn main() {
    let arguments: Hearth = argh::from_env();
    let result = match arguments.command {
        Command::Check(args) => cmd::check::run(cmd::check::Check {
            server_name: args.server_name,
            json: args.json,
            config: args.config,
        }),
        Command::Init(args) => cmd::init::run(cmd::init::Init {
            server_name: args.server_name,
            data_dir: args.data_dir,
            config: args.config,
            federation_host: args.federation_host,
        }),
        Command::Demo(args) => cmd::demo::run(cmd::demo::Demo {
            dir: args.dir,
            base_port: args.base_port,
        }),
        Command::Serve(args) => {
            if args.exit_with_stdin {
                cmd::demo::exit_when_stdin_closes();
            }
            cmd::serve::run(args.config)
        }
        Command::User(UserArgs {
            command: UserCommand::Add(args),
        }) => cmd::user::add(cmd::user::AddUser {
            name: args.name,
            password: args.password,
            password_stdin: args.password_stdin,
            admin: args.admin,
            config: args.config,
        }),
        Command::Version(_) => cmd::version(),
    };
    if let Err(e) = result {
        eprintln!("hearth: {e}");
        std::process::exit(1);
    }
}
