"""The CI policy: where it is found, how it is validated, how the command line overrides it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from smcheck.check.policy import Policy, find_config, load_policy, parse_conditions, read_policy
from smcheck.cli import cli
from smcheck.errors import ConfigError, ExitCode


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_nearest_pyproject_with_a_table_wins_walking_up(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.smcheck]\ndtypes = ["bf16"]\n')
    write(tmp_path / "pkg" / "pyproject.toml", '[project]\nname = "x"\n')  # no table: skipped
    deep = tmp_path / "pkg" / "src" / "deeper"
    deep.mkdir(parents=True)
    assert find_config(deep) == tmp_path / "pyproject.toml"
    assert load_policy(deep).dtypes == ("bfloat16",)


def test_smcheck_toml_beats_pyproject_in_the_same_folder(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", '[tool.smcheck]\ndtypes = ["bf16"]\n')
    write(tmp_path / "smcheck.toml", 'dtypes = ["fp32"]\n')
    assert load_policy(tmp_path).dtypes == ("float32",)
    write(tmp_path / ".smcheck.toml", 'dtypes = ["fp64"]\n')
    assert load_policy(tmp_path).dtypes == ("float64",)


def test_isolated_ignores_config_and_explicit_config_is_read(tmp_path: Path) -> None:
    write(tmp_path / "smcheck.toml", 'dtypes = ["fp32"]\n')
    other = write(tmp_path / "ci" / "policy.toml", 'methods = ["torch"]\n')
    assert load_policy(tmp_path, isolated=True) == Policy()
    assert load_policy(tmp_path, config=str(other)).methods == ("torch",)
    with pytest.raises(ConfigError, match="cannot be used with --config"):
        load_policy(tmp_path, config=str(other), isolated=True)
    with pytest.raises(ConfigError, match="'nope.toml' does not exist"):
        load_policy(tmp_path, config="nope.toml")


def test_a_relative_config_is_read_from_the_cwd_given_and_a_str_cwd_is_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # load_policy(Path("/dir"), config="cfg.toml") looked in the process's working directory,
    # and load_policy("/dir") raised AttributeError: 'str' object has no attribute 'resolve'
    write(tmp_path / "ci" / "cfg.toml", 'methods = ["torch"]\n')
    write(tmp_path / "smcheck.toml", 'dtypes = ["fp32"]\n')
    monkeypatch.chdir(tmp_path / "ci")  # not where the config search starts
    assert load_policy(tmp_path / "ci", config="cfg.toml").methods == ("torch",)
    assert load_policy(str(tmp_path / "ci"), config=Path("cfg.toml")).methods == ("torch",)
    assert load_policy(str(tmp_path)).dtypes == ("float32",)
    with pytest.raises(ConfigError) as e:
        load_policy(str(tmp_path), config="cfg.toml")
    assert str(e.value) == (
        f"config file 'cfg.toml' does not exist in '{tmp_path}'; check the --config path"
    )


@pytest.mark.parametrize(
    ("given", "names"),
    [
        (["nan"], ("nan",)),
        ("nan, overflow>100", ("nan", "overflow>100")),
        (("warn",), ("warn",)),
        ("never", ()),
    ],
)
def test_a_policy_made_in_python_takes_condition_names_as_a_config_file_does(
    given: object, names: tuple[str, ...]
) -> None:
    # Policy(fail_on=["nan"]) failed later with "'str' object has no attribute 'name'"
    policy = Policy(fail_on=given, warn_on=given)  # type: ignore[arg-type]
    assert tuple(c.name for c in policy.fail_on) == names
    assert tuple(c.name for c in policy.warn_on) == names


@pytest.mark.parametrize(
    ("given", "error"),
    [
        (5, "fail_on: expected a list of strings, got 5"),
        (["nan", "never"], "fail_on: 'never' means no condition, so it stands alone"),
        ("n,a", "fail_on: unknown condition 'n'"),
        # [] was "never" unasked (fail-on = [] is refused): every condition silently off
        ([], "fail_on: the list is empty; name at least one condition, or 'never' for none"),
        # () was taken as never, parsed: a caller's tuple(user_list) could never fail
        ((), "fail_on: the list is empty; name at least one condition, or 'never' for none"),
    ],
)
def test_a_policy_made_in_python_refuses_what_a_config_file_refuses(
    given: object, error: str
) -> None:
    with pytest.raises(ConfigError) as e:
        Policy(fail_on=given)  # type: ignore[arg-type]
    assert str(e.value).startswith(error)


def test_never_stays_never_through_copies_and_overrides_while_an_empty_warn_on_is_none() -> None:
    import copy
    import pickle

    from smcheck.findings.policyconditions import NO_CONDITIONS

    for given in ("never", ["never"], NO_CONDITIONS):
        policy = Policy(fail_on=given)  # type: ignore[arg-type]
        # each copy runs __post_init__ again (replace) or keeps the object (pickle, deepcopy)
        for again in (
            policy.override(dim=0),
            pickle.loads(pickle.dumps(policy)),
            copy.copy(policy),
        ):
            assert again.fail_on is NO_CONDITIONS
    assert Policy(warn_on=()).warn_on == () == Policy().warn_on


def test_never_on_the_command_line_and_in_a_config_file_still_turns_failing_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 12.5]]))  # naive overflows in float16
    args = ["check", "a.npy", "--method", "naive", "--dtype", "fp16"]
    assert CliRunner().invoke(cli, [*args, "--isolated"]).exit_code == ExitCode.FINDINGS
    r = CliRunner().invoke(cli, [*args, "--isolated", "--fail-on", "never"])
    assert r.exit_code == ExitCode.OK, r.output
    write(tmp_path / "smcheck.toml", 'fail-on = "never"\n')
    assert CliRunner().invoke(cli, args).exit_code == ExitCode.OK


@pytest.mark.parametrize("key", ["dtypes", "methods", "temperatures"])
def test_a_policy_made_in_python_refuses_an_empty_selection_as_a_config_file_does(key: str) -> None:
    # Policy(temperatures=()) ran at T = 1 (from_options reads () as a flag left out), while
    # temperatures = [] in a config file and Policy(temperatures=[]) were refused
    for empty in ((), []):
        with pytest.raises(ConfigError, match="^nothing to analyse"):
            Policy(**{key: empty}).analysis_config()


def test_run_check_takes_one_source_as_a_string_or_path_not_its_characters(
    tmp_path: Path,
) -> None:
    # run_check("/path/hot.npy", ...) checked "/", "p", "a", ...: "/" expanded the root
    from smcheck.check.run import run_check

    path = tmp_path / "hot.npy"
    np.save(path, np.array([[1.0, 2.0, 3.0]]))
    for source in (str(path), path):
        result = run_check(source, Policy(fail_on="nan"))  # type: ignore[arg-type]
        assert result.checked == [(str(path), None)] and result.errors == []
        assert result.policy["fail_on"] == ["nan"]


def test_run_check_refuses_a_policy_or_sources_of_the_wrong_kind_naming_what_it_takes() -> None:
    # AttributeError 'NoneType' object has no attribute 'analysis_config'; TypeError from
    # os.fspath for an array, or from list() for a number
    from smcheck.check.run import run_check

    with pytest.raises(ConfigError, match="^run_check's policy is a NoneType, not a smcheck.Po"):
        run_check("gen:normal", None)  # type: ignore[arg-type]
    for wrong in (np.zeros((2, 3)), 5, [np.zeros(3)]):
        with pytest.raises(ConfigError, match=r"^run_check checks files, .* \(not arrays: smch"):
            run_check(wrong, Policy())  # type: ignore[arg-type]


def test_every_key_parses(tmp_path: Path) -> None:
    path = write(
        tmp_path / "smcheck.toml",
        """\
sources = ["outputs/*.npy", "gen:spike"]
methods = "naive, torch"
dtypes = ["half", "bf16"]
temperatures = [0.7, "1:100:3"]
model = "framework"
dim = 1
targets = "labels.npy"
softmin = true
ftz = false
memory-budget = 64
chunk_rows = 100
fail-on = ["nan", "overflow", "error-ulp > 8", "lost-mass>=1e-6", "fail"]
warn-on = ["warn", "argmax-flips"]
""",
    )
    p = read_policy(path)
    assert p.methods == ("naive", "torch") and p.dtypes == ("float16", "bfloat16")
    assert p.temperatures == pytest.approx((0.7, 1.0, 10.0, 100.0))
    assert p.dim == 1 and p.softmin is True and p.ftz is False
    assert p.memory_budget == 64 * 2**20 and p.chunk_rows == 100
    assert [c.name for c in p.fail_on] == [
        "nan",
        "overflow",
        "error-ulp>8",
        "lost-mass>=1e-06",
        "fail",
    ]
    assert [c.name for c in p.warn_on] == ["warn", "argmax-flip"]
    # paths are relative to the config file, shown relative to the working directory
    assert Path(p.targets or "").resolve() == (tmp_path / "labels.npy").resolve()
    assert Path(p.sources[0]).resolve() == (tmp_path / "outputs/*.npy").resolve()
    assert p.sources[1] == "gen:spike"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("dtype = ['fp16']", "unknown key 'dtype'"),
        ("[tool.smcheck]\ndtypes = ['fp16']", "keys go at the top level"),
        ("dtypes = ['float12']", "dtypes: unknown dtype 'float12'"),
        ("dtypes = []", "dtypes: the list is empty"),
        ("sources = []", "smcheck.toml': sources: the list is empty; name at least one"),
        ("sources = ''", "smcheck.toml': sources: the list is empty; name at least one"),
        ("sources = ['a.npy', '']", "sources: a path is empty in ['a.npy', '']; name a file"),
        ("fail-on = []", "fail-on: the list is empty; name at least one condition, or 'never'"),
        ("fail_on = ' , '", "fail_on: the list is empty"),
        ("warn-on = []", "warn-on: the list is empty"),
        ("methods = ['fast']", "methods: unknown method 'fast'"),
        ("temperatures = [0]", "temperatures: temperature 0 is not a positive"),
        ("temperatures = ['hot']", "temperatures: bad temperature 'hot'"),
        ("model = 'exact'", "model: expected one of framework, strict"),
        ("dim = true", "dim: expected an integer"),
        ("chunk-rows = 0", "chunk-rows: expected an integer >= 1"),
        ("fail-on = ['nans']", "fail-on: unknown condition 'nans'"),
        ("fail-on = ['error-ulp']", "needs a limit, e.g. 'error-ulp>8'"),
        ("fail-on = ['sum-error>x']", "bad limit 'x'"),
        ("fail-on = ['fail>1']", "takes no limit"),
        ("fail-on = [1]", "fail-on: expected a list of strings"),
        ("softmin = 'yes'", "softmin: expected true or false"),
        ("dtypes = [", "is not valid TOML"),
    ],
)
def test_bad_config_names_the_file_and_the_key(tmp_path: Path, text: str, needle: str) -> None:
    path = write(tmp_path / "smcheck.toml", text + "\n")
    with pytest.raises(ConfigError) as e:
        read_policy(path)
    assert needle in str(e.value)
    assert "smcheck.toml" in str(e.value)


HUGE = "1" + "0" * 400  # an integer TOML reads whole, past float64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"temperatures = {HUGE}",
            "temperatures: temperature 100000...000 (401 digits) overflows float64 (beyond "
            "±1.8e308); give e.g. 0.7",
        ),
        (
            f"temperatures = [0.5, {HUGE}]",
            "temperatures: temperature 100000...000 (401 digits) overflows float64 (beyond "
            "±1.8e308); give e.g. 0.7",
        ),
        (
            f"mask-value = -{HUGE}",
            "mask-value: -100000...000 (401 digits) overflows float64 (beyond ±1.8e308); give "
            "e.g. -1e4 (1e4 with softmin)",
        ),
    ],
    ids=["temperature", "temperature-in-a-list", "mask-value"],
)
def test_an_integer_beyond_float64_is_a_config_error_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    # smcheck check printed "Error: internal error: OverflowError" and exited 3
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "smcheck.toml", text + "\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike"], catch_exceptions=False)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr == f"Error: config 'smcheck.toml': {message}\n"


NINES = "9" * 4000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"dim = {NINES}",
            "--dim 999999...999 (4000 digits) is out of range for gen:spike of shape [8, 10]; use "
            "a value from -2 to 1 (config 'smcheck.toml' sets dim)",
        ),
        (
            f"dim = -{NINES}",
            "config 'smcheck.toml': dim: expected an integer, got -999999...999 (4000 digits)",
        ),
        (
            f"chunk-rows = -{NINES}",
            "config 'smcheck.toml': chunk-rows: expected an integer >= 1, got -999999...999 (4000 "
            "digits)",
        ),
        (
            f"threads = {NINES}",
            "config 'smcheck.toml': threads: threads must be a whole number from 1 to 1024, got "
            "999999...999 (4000 digits); e.g. 4",
        ),
    ],
    ids=["dim", "negative-dim", "chunk-rows", "threads"],
)
def test_a_huge_integer_is_shown_cut_not_echoed_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str
) -> None:
    # dim = 4000 nines was echoed whole in a 4267-character error
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "smcheck.toml", text + "\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike", "-q"], catch_exceptions=False)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr.splitlines()[0] == f"Error: {message}"


def test_repeated_temperatures_count_once_in_a_string_as_in_a_list(tmp_path: Path) -> None:
    # the string was refused as "120 temperatures are more than the 100 one analysis takes"
    # while the list of the same two ranges ran 60 (docs/ci.md: repeats counted once)
    as_string = read_policy(write(tmp_path / "a.toml", 'temperatures = "0.1:10:60,0.1:10:60"\n'))
    as_list = read_policy(write(tmp_path / "b.toml", 'temperatures = ["0.1:10:60","0.1:10:60"]\n'))
    assert as_string.temperatures == as_list.temperatures
    assert len(as_string.temperatures or ()) == 60
    with pytest.raises(ConfigError, match="temperatures: 120 temperatures are more than the 100"):
        read_policy(write(tmp_path / "c.toml", 'temperatures = ["0.1:10:60","0.2:20:60"]\n'))


def test_pyproject_errors_name_the_table(tmp_path: Path) -> None:
    path = write(tmp_path / "pyproject.toml", "[tool.smcheck]\nfail_onn = []\n")
    with pytest.raises(
        ConfigError, match=r"pyproject.toml' \[tool.smcheck\]: unknown key 'fail_onn'"
    ):
        read_policy(path)
    bare = write(tmp_path / "b" / "pyproject.toml", "[project]\n")
    with pytest.raises(ConfigError, match="no \\[tool.smcheck\\] table"):
        read_policy(bare)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("fail-on = ['nan']", "fail_on = 'never'"),
        ("fail_on = 'never'", "fail-on = ['nan']"),
        ("mask_value = -1e4", "mask-value = -1e9"),
        ("memory-budget = 64", "memory_budget = 512"),
        ("chunk_rows = 8", "chunk-rows = 16"),
        ("warn-on = 'nan'", "warn_on = 'overflow'"),
    ],
)
def test_a_key_set_twice_by_its_two_spellings_is_refused_not_half_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: str, second: str
) -> None:
    # both landed in one field and the later won: fail-on = ['nan'] then fail_on = 'never'
    # passed an overflowing input with exit 0 (swapped, it failed with exit 1)
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "smcheck.toml", f"{first}\n{second}\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike", "-q"], catch_exceptions=False)
    assert r.exit_code == ExitCode.ERROR, r.output
    key, spelled = first.split(" = ")[0], second.split(" = ")[0]
    assert r.stderr == (
        f"Error: config 'smcheck.toml' sets {key.replace('_', '-')} twice, as {key!r} and "
        f"{spelled!r}; keep one of them\n"
    )


def test_never_means_no_conditions() -> None:
    assert parse_conditions(["never"]) == ()
    got = parse_conditions(["nan", "nan", "overflow>0", "overflow", "overflow>=0"])
    assert [c.name for c in got] == ["nan", "overflow", "overflow>=0"]


def test_an_empty_fail_on_in_a_config_is_refused_not_read_as_never(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fail-on = [] turned every condition off: a +inf input PASSED with exit 0 (it fails without
    # the key), where --fail-on '' is refused; never is the way to turn failing off
    monkeypatch.chdir(tmp_path)
    np.save(tmp_path / "up.npy", np.array([[1.0, np.inf, 2.0], [1.0, 2.0, 3.0]]))
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\nfail-on = []\n")
    r = CliRunner().invoke(cli, ["check", "up.npy"], catch_exceptions=False)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr == (
        "Error: config 'pyproject.toml' [tool.smcheck]: fail-on: the list is empty; name at "
        "least one condition, or 'never' for none\n"
    )
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\nfail-on = ['never']\n")
    r = CliRunner().invoke(cli, ["check", "up.npy"], catch_exceptions=False)
    assert r.exit_code == ExitCode.OK, r.output


def test_cli_config_error_is_exit_2_with_the_file_named(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\ndtypes = ['fp12']\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike"], catch_exceptions=False)
    assert r.exit_code == ExitCode.ERROR, r.output
    assert "pyproject.toml' [tool.smcheck]: dtypes: unknown dtype 'fp12'" in r.stderr
    # --isolated ignores the broken file
    r = CliRunner().invoke(
        cli, ["check", "gen:spike", "--isolated", "--dtype", "fp32"], catch_exceptions=False
    )
    assert r.exit_code == ExitCode.OK, r.output
    # values valid one by one that the analysis refuses together: the file is named too
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\nmodel = 'strict'\nmethods = ['torch']\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike"], catch_exceptions=False)
    assert r.exit_code == ExitCode.ERROR
    assert "(config 'pyproject.toml' sets methods, model)" in r.stderr
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--model", "framework"])
    assert r.exit_code == ExitCode.OK, r.output  # the command line overrides it
    # a key the command line overrides is not the file's any more
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\nmethods = ['torch']\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--model", "strict", "--method", "torch"])
    assert r.exit_code == ExitCode.ERROR and "pyproject.toml" not in r.stderr
    # a conflict made on the command line alone does not name the file
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\nfail-on = ['nan']\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--model", "strict", "--method", "torch"])
    assert r.exit_code == ExitCode.ERROR and "pyproject.toml" not in r.stderr


def test_a_refused_analysis_names_only_the_file_keys_it_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # every key the file set was named: "(config 'smcheck.toml' sets dtypes, model, threads)"
    # for a torch the command line asked for, and the file blamed for a mask value it never set
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "smcheck.toml", "dtypes = ['fp32']\nmodel = 'strict'\nthreads = 1\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--method", "torch"])
    assert r.exit_code == ExitCode.ERROR, r.output
    assert r.stderr.endswith("use the framework model (config 'smcheck.toml' sets model)\n")
    write(tmp_path / "smcheck.toml", "dtypes = ['fp32']\nmethods = ['naive']\n")
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--mask-value", "5"])
    assert r.exit_code == ExitCode.ERROR, r.output
    assert "mask value 5.0 is not a finite negative number" in r.stderr
    assert "smcheck.toml" not in r.stderr


@pytest.mark.parametrize(
    ("config", "source", "message"),
    [
        ("dim = 5", "gen:spike:shape=2x4", "--dim 5 is out of range for gen:spike:shape=2x4"),
        ("memory-budget = 1", "gen:spike:shape=2x100000", "--memory-budget 1 (MiB) allows"),
    ],
)
def test_a_value_refused_for_one_source_names_the_config_key_that_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str, source: str, message: str
) -> None:
    # the source's error named only the flag (--dim 5), which the command line never gave
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "smcheck.toml", f"{config}\nfail-on = ['nan']\n")
    key = config.split(" =")[0]
    r = CliRunner().invoke(cli, ["check", source, "--dtype", "fp32", "--format", "json"])
    assert r.exit_code == ExitCode.ERROR, r.output
    [error] = json.loads(r.stdout)["errors"]
    assert message in error["message"]
    assert error["message"].endswith(f" (config 'smcheck.toml' sets {key})")
    # given on the command line, the value is not the file's: the flag alone is named
    flag = ["--" + key, config.split("= ")[1]]
    r = CliRunner().invoke(cli, ["check", source, "--dtype", "fp32", "--format", "json", *flag])
    [error] = json.loads(r.stdout)["errors"]
    assert message in error["message"] and "smcheck.toml" not in error["message"]


def test_cli_options_override_only_what_is_given(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    write(
        tmp_path / "smcheck.toml",
        "sources = ['gen:constant:shape=2x4']\nmethods = ['naive']\ndtypes = ['fp16']\n"
        "temperatures = [0.5]\nfail-on = ['nan']\n",
    )
    r = CliRunner().invoke(cli, ["check", "--format", "json", "--dtype", "bf16"])
    assert r.exit_code == ExitCode.OK, r.output
    pol = json.loads(r.stdout)["policy"]
    assert pol["dtypes"] == ["bfloat16"]  # from the command line
    assert pol["methods"] == ["naive"] and pol["temperatures"] == [0.5]  # from the file
    assert pol["fail_on"] == ["nan"] and pol["dim"] == -1
    r = CliRunner().invoke(cli, ["check", "--format", "json", "--fail-on", "overflow,warn"])
    assert json.loads(r.stdout)["policy"]["fail_on"] == ["overflow", "warn"]


def test_a_use_the_config_file_set_is_said_to_come_from_it_not_from_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the report said "--use probs" of a use that pyproject.toml set: no --use was given
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "pyproject.toml", "[tool.smcheck]\nuse = 'probs'\n")
    argv = ["check", "gen:spike:shape=2x4", "--dtype", "fp32"]

    def reason(*more: str) -> str:
        r = CliRunner().invoke(cli, [*argv, "--format", "json", *more])
        assert r.exit_code == ExitCode.OK, r.output
        return json.loads(r.stdout)["sources"][0]["use_reason"]

    assert reason() == "use = probs in pyproject.toml"
    page = CliRunner().invoke(cli, [*argv, "--format", "html"]).stdout
    assert "<td>use</td><td>probs (use = probs in pyproject.toml): judges probabilities" in page
    assert reason("--use", "loss") == "given"  # the command line's, not the file's
    assert reason("--use", "auto").startswith("auto: ")


def test_no_source_anywhere_is_a_usage_error(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["check", "--isolated"])
    assert r.exit_code == ExitCode.ERROR and "give a SOURCE" in r.stderr


def test_a_baseline_written_to_standard_output_says_so(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # "--write-baseline -" works (its --help says so) and the note said "wrote ... to -"
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["check", "gen:spike", "--isolated", "-q", "--write-baseline", "-"])
    assert r.exit_code == ExitCode.OK, r.output
    assert json.loads(r.stdout)["violations"] == []
    assert r.stderr.startswith("smcheck: wrote 0 violations to standard output\n")
