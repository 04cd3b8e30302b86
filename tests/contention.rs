//! Many `jlock` processes on one file at once: no update may be lost.

use crate::util::run_loops_together;

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn eight_processes_incr_a_bare_counter_2000_times() {
    let dir = tempfile::tempdir().unwrap();
    run_loops_together(dir.path(), 8, |_| {
        "i=0; while [ $i -lt 250 ]; do \"$J\" incr counter.json >/dev/null || exit 1; i=$((i+1)); done".into()
    });
    assert_eq!(read(dir.path(), "counter.json"), "2000\n");
}

#[test]
fn eight_processes_incr_a_key_path_2000_times() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("db.json"),
        "{\"name\": \"ci\", \"hits\": 0, \"z\": true}\n",
    )
    .unwrap();
    run_loops_together(dir.path(), 8, |_| {
        "i=0; while [ $i -lt 250 ]; do \"$J\" incr db.json .hits >/dev/null || exit 1; i=$((i+1)); done".into()
    });
    // Every update counted, every other byte of the file intact.
    assert_eq!(
        read(dir.path(), "db.json"),
        "{\"name\": \"ci\", \"hits\": 2000, \"z\": true}\n"
    );
}

#[test]
fn incr_and_update_with_a_real_command_mixed() {
    let dir = tempfile::tempdir().unwrap();
    // Half the loops increment with `jlock incr`, half rewrite the counter
    // through awk with `jlock update`.
    run_loops_together(dir.path(), 8, |i| {
        let op = if i % 2 == 0 {
            "\"$J\" incr counter.json >/dev/null"
        } else {
            "\"$J\" update counter.json -- awk '{ print $1 + 1 }'"
        };
        format!("i=0; while [ $i -lt 250 ]; do {op} || exit 1; i=$((i+1)); done")
    });
    assert_eq!(read(dir.path(), "counter.json"), "2000\n");
}
