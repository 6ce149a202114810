//! Warm shells (src/remote/shell.rs): jobs one after the other run in one logged-in bash, each
//! in a subshell of its own, and nothing one job changes reaches the next.

use super::*;

/// Prints the bash its subshell runs in (`::shell PID`, its parent), then leaves every kind
/// of trace.
const LITTER: Script = Script::new(
    "litter.sh",
    r#"read -r -a stat </proc/$BASHPID/stat && printf '::shell %s\n' "${stat[3]}"
LEFT_BEHIND=1
export EXPORTED_BEHIND=1
cd /
umask 0077
trap 'echo trap of the first job' EXIT
set +e
f_left_behind() { :; }
"#,
);

/// Prints what the previous job could have left.
const LOOK: Script = Script::new(
    "look.sh",
    r#"read -r -a stat </proc/$BASHPID/stat && printf '::shell %s\n' "${stat[3]}"
printf '::var %s\n' "${LEFT_BEHIND:-unset}" "${EXPORTED_BEHIND:-unset}"
printf '::umask %s\n' "$(umask)"
printf '::cwd %s\n' "$PWD"
case $- in *e*) printf '::errexit on\n' ;; *) printf '::errexit off\n' ;; esac
printf '::fn %s\n' "$(type -t f_left_behind || echo none)"
"#,
);

/// A last line on each stream without its newline, and an exit code of its own.
const UNFINISHED: Script = Script::new(
    "unfinished.sh",
    r#"printf 'first\nno newline at the end'
printf 'err without newline' >&2
exit 3
"#,
);

fn tagged(lines: &[(Instant, Line)], tag: &str) -> Vec<String> {
    texts(lines, Stream::Out)
        .into_iter()
        .filter_map(|l| l.strip_prefix(&format!("::{tag} ")).map(str::to_owned))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_job_runs_in_the_same_shell_and_sees_nothing_the_last_one_left() {
    let remote = remote(8);
    let target = target(4);
    let o = || opts(Duration::from_secs(30), &[]);
    let (first, litter) = run(&remote, &target, LITTER, &[], &[], o()).await;
    assert_eq!(first.unwrap(), 0);
    // The first job's EXIT trap ran when its own subshell ended.
    assert!(
        texts(&litter, Stream::Out).contains(&"trap of the first job".to_owned()),
        "{litter:?}"
    );
    let (second, look) = run(&remote, &target, LOOK, &[], &[], o()).await;
    assert_eq!(second.unwrap(), 0);
    assert_eq!(
        tagged(&litter, "shell"),
        tagged(&look, "shell"),
        "both jobs in one warm bash"
    );
    assert_eq!(tagged(&look, "var"), ["unset", "unset"]);
    assert_ne!(tagged(&look, "umask"), ["0077"]);
    assert_ne!(tagged(&look, "cwd"), ["/"]);
    assert_eq!(
        tagged(&look, "errexit"),
        ["on"],
        "every job starts with set -e"
    );
    assert_eq!(tagged(&look, "fn"), ["none"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_last_line_without_its_newline_is_kept_with_the_scripts_exit_code() {
    let remote = remote(8);
    let target = target(4);
    for _ in 0..2 {
        let (code, lines) = run(
            &remote,
            &target,
            UNFINISHED,
            &[],
            &[],
            opts(Duration::from_secs(30), &[]),
        )
        .await;
        assert_eq!(code.unwrap(), 3);
        assert_eq!(
            texts(&lines, Stream::Out),
            ["first", "no newline at the end"]
        );
        assert_eq!(texts(&lines, Stream::Err), ["err without newline"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_killed_while_idle_is_replaced_and_the_job_still_runs_once() {
    let remote = remote(8);
    let target = target(4);
    let o = || opts(Duration::from_secs(30), &[]);
    let (first, lines) = run(&remote, &target, LOOK, &[], &[], o()).await;
    assert_eq!(first.unwrap(), 0);
    let shell: i32 = tagged(&lines, "shell")[0].parse().unwrap();
    // SAFETY: kill(2) on the testbed bash that just ran our job (the tests run as root).
    assert_eq!(unsafe { libc::kill(shell, libc::SIGKILL) }, 0);
    eventually(Duration::from_secs(5), "the shell to die", || async {
        if Path::new(&format!("/proc/{shell}")).exists() {
            Err("still there".to_owned())
        } else {
            Ok(())
        }
    })
    .await;
    let (second, lines) = run(&remote, &target, ECHO_ARGS, &["again"], &[], o()).await;
    assert_eq!(second.unwrap(), 0);
    assert_eq!(texts(&lines, Stream::Out), ["::arg 1 again"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_shells_give_their_sessions_to_other_commands() {
    // Two sessions in all: two jobs at once leave two idle shells holding both.
    let remote = remote(2);
    let target = target(4);
    let jobs = (0..2).map(|i| {
        let (remote, target) = (remote.clone(), target.clone());
        tokio::spawn(async move {
            let arg = format!("job-{i}");
            run(
                &remote,
                &target,
                ECHO_ARGS,
                &[&arg],
                &[],
                opts(Duration::from_secs(30), &[]),
            )
            .await
            .0
        })
    });
    for done in futures::future::join_all(jobs).await {
        assert_eq!(done.unwrap().unwrap(), 0);
    }
    let out = tokio::time::timeout(
        Duration::from_secs(10),
        remote.exec(
            &target,
            &["echo", "a plain command"],
            Duration::from_secs(10),
        ),
    )
    .await
    .expect("a plain command gets a session from an idle shell")
    .unwrap();
    assert_eq!(out.stdout.trim(), "a plain command");
}
