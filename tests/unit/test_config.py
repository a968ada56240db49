"""Config loading: YAML, ${VAR}, schema problems (all at once), defaults and credentials."""

from __future__ import annotations

import dataclasses
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from vodwatch.config import (
    DEFAULT_CONFIG_PATH,
    REQUIRED,
    SCHEMA,
    Config,
    Credentials,
    FolderSet,
    VodSettings,
    default_config_path,
    load_config,
    load_credentials,
)
from vodwatch.config.validate import default_of
from vodwatch.errors import ConfigError
from vodwatch.log import redact

PID = "0123456789abcdef0123456789abcdef"
OTHER_PID = "fedcba9876543210fedcba9876543210"
ENV = {"HUAWEICLOUD_SDK_AK": "AKEXAMPLE", "HUAWEICLOUD_SDK_SK": "sk-example-secret"}
MINIMAL = f"""\
vod:
  endpoint: https://vod.cn-north-4.myhuaweicloud.com
  project_id: {PID}
folders:
  - inbox: /srv/vod-drop/inbox
    done: /srv/vod-drop/done
    failed: /srv/vod-drop/failed
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None, **kwargs: bool) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV if env is None else env, **kwargs)
    return caught.value.problems


def with_folder(**keys: object) -> str:
    lines = "".join(f"    {k}: {v}\n" for k, v in keys.items())
    return MINIMAL + lines


def test_minimal_config_gets_every_default(tmp_path: Path) -> None:
    """A config with only the required keys loads with the schema's defaults and typed values."""
    config = load_config(write(tmp_path, MINIMAL), ENV)
    assert isinstance(config, Config)
    assert config.source == tmp_path / "config.yaml"
    assert config.vod.verify_tls is True and config.vod.read_timeout_seconds == 120.0
    assert config.state_dir == Path("/var/lib/vodwatch")
    assert config.settle_seconds == 10.0 and isinstance(config.settle_seconds, float)
    assert config.upload.workers == 4 and isinstance(config.upload.workers, int)
    assert config.upload.bandwidth_limit_mbps == 0.0
    assert config.limits.update_asset_per_minute == 90.0
    assert config.retry.jitter == 0.5
    assert config.claims.instance_id == socket.gethostname()
    assert config.metrics.address is None
    assert (config.log.format, config.log.level) == ("auto", "info")
    assert dict(config.language_map) == {"en": "EN", "zh": "CN", "cn": "CN"}
    assert config.credentials == Credentials("AKEXAMPLE", "sk-example-secret")
    (folder,) = config.folders
    assert isinstance(config.folders, tuple)
    assert folder.inbox == Path("/srv/vod-drop/inbox") and folder.name == "/srv/vod-drop/inbox"
    assert (folder.endpoint, folder.project_id) == ("https://vod.cn-north-4.myhuaweicloud.com", PID)
    assert (folder.watch, folder.recursive) == ("auto", False)
    assert folder.label == "vod-drop/inbox"
    assert folder.status_file == Path("/srv/vod-drop/inbox status.txt")
    assert (folder.notify, folder.notify_deliveries) == ((), False)


def test_settings_are_frozen(tmp_path: Path) -> None:
    """Loaded settings cannot be changed by accident, including the language map."""
    config = load_config(write(tmp_path, MINIMAL), ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.settle_seconds = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.language_map["fr"] = "FR"  # type: ignore[index]


def test_folder_set_overrides_endpoint_and_project(tmp_path: Path) -> None:
    """A folder set's own endpoint and project_id replace vod's; a trailing slash is dropped."""
    text = with_folder(project_id=OTHER_PID, endpoint="http://127.0.0.1:8080/")
    (folder,) = load_config(write(tmp_path, text), ENV).folders
    assert (folder.endpoint, folder.project_id) == ("http://127.0.0.1:8080", OTHER_PID)


def test_missing_file_is_one_problem_with_the_fix(tmp_path: Path) -> None:
    """A config file that does not exist gives one problem saying how to create it."""
    path = tmp_path / "nope.yaml"
    assert problems_of(path) == [
        f"{path}: cannot read the config file: No such file or directory "
        "(create it from config.example.yaml or pass --config)"]


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    """Pointing --config at a folder is reported as unreadable, not as a crash."""
    (problem,) = problems_of(tmp_path)
    assert problem.startswith(f"{tmp_path}: cannot read the config file: Is a directory")


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_file_is_a_clear_problem(tmp_path: Path, text: str) -> None:
    """An empty or comment-only file is reported as empty."""
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}: the config file is empty (start from config.example.yaml)"]


@pytest.mark.parametrize(("text", "shown"), [("- a\n- b\n", "a list"), ("hello\n", "'hello'")])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str, shown: str) -> None:
    """A file whose top level is a list or a word says a mapping was expected."""
    path = write(tmp_path, text)
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: the top level must be a mapping")
    assert f"got {shown}" in problem


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    """A YAML syntax error is one problem giving its line."""
    path = write(tmp_path, MINIMAL + "settle_seconds: [1, 2\nlog: {}\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: line 9, column ")
    assert "invalid YAML" in problem


def test_python_tags_are_refused_as_yaml_errors(tmp_path: Path) -> None:
    """Tags that would build Python objects are refused by the safe loader with a line."""
    path = write(tmp_path, MINIMAL + "state_dir: !!python/object:os.system {}\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: line 8, column 12: invalid YAML")


def test_duplicate_keys_are_reported_with_both_lines(tmp_path: Path) -> None:
    """Every key given twice is a problem naming its path, its line and the first line."""
    text = MINIMAL.replace("vod:\n", "vod:\n  verify_tls: true\n  verify_tls: false\n")
    text += "    done: /srv/other\nsettle_seconds: 1\nsettle_seconds: 2\n"
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}: at 'vod.verify_tls': duplicate key on line 3, first set on line 2 "
        "(keep only one of them)",
        f"{path}: at 'folders[0].done': duplicate key on line 10, first set on line 8 "
        "(keep only one of them)",
        f"{path}: at 'settle_seconds': duplicate key on line 12, first set on line 11 "
        "(keep only one of them)",
    ]


def test_merge_keys_may_be_overridden(tmp_path: Path) -> None:
    """Overriding a key brought in by a YAML merge (<<) is not a duplicate."""
    text = MINIMAL.replace("folders:\n  - inbox", "folders:\n  - &base\n    inbox") + (
        "  - <<: *base\n    inbox: /srv/second/inbox\n    done: /srv/second/done\n"
        "    failed: /srv/second/failed\n")
    config = load_config(write(tmp_path, text), ENV)
    assert [f.inbox for f in config.folders] == [Path("/srv/vod-drop/inbox"),
                                                  Path("/srv/second/inbox")]


def test_self_referring_alias_is_a_problem(tmp_path: Path) -> None:
    """A YAML alias that contains itself gives one problem instead of endless recursion."""
    path = write(tmp_path, MINIMAL + "language_map: &loop {en: *loop}\n")
    assert problems_of(path) == [
        f"{path}: an alias refers to itself (write the values out)"]


def test_only_true_and_false_are_booleans(tmp_path: Path) -> None:
    """yes/no are words, so the language code 'no' stays a string and 'yes' is no boolean."""
    path = write(tmp_path, MINIMAL + "language_map: {no: NB}\n")
    assert load_config(path, ENV).language_map["no"] == "NB"
    path.write_text(with_folder(recursive="yes"), encoding="utf-8")
    assert problems_of(path) == [
        f"{path}: at 'folders[0].recursive': must be true or false, got 'yes' "
        "(write true or false)"]


def test_variables_are_replaced_in_every_string(tmp_path: Path) -> None:
    """${VAR} is replaced in nested strings, $${ stays a literal ${, numbers may come from env."""
    text = MINIMAL.replace("/srv/vod-drop/inbox", "${DROP}/in$${x}") + (
        "settle_seconds: ${SETTLE}\nlanguage_map: {fr: '${FR}'}\n")
    env = {**ENV, "DROP": "/srv/drop", "SETTLE": "2.5", "FR": "FR"}
    config = load_config(write(tmp_path, text), env)
    assert config.folders[0].inbox == Path("/srv/drop/in${x}")
    assert config.settle_seconds == 2.5
    assert config.language_map["fr"] == "FR"


def test_unset_variable_is_a_problem_not_an_empty_string(tmp_path: Path) -> None:
    """An unset variable is reported once at its key, with no follow-on problem for that key."""
    path = write(tmp_path, MINIMAL.replace("/srv/vod-drop/done", "${DROP_DIR}/done"))
    assert problems_of(path) == [
        f"{path}: at 'folders[0].done': environment variable DROP_DIR is not set "
        "(set DROP_DIR in vodwatch's environment, or $${ for a literal ${)"]


def test_malformed_references_are_problems(tmp_path: Path) -> None:
    """'${1x}' and an unclosed '${' are both reported."""
    path = write(tmp_path, MINIMAL + "state_dir: ${1x}/a/${\n")
    found = problems_of(path)
    assert len(found) == 2
    assert "'${1x}' is not a variable name" in found[0]
    assert "has a '${' that is not closed" in found[1]


def test_exact_problem_format(tmp_path: Path) -> None:
    """Problems read FILE: at 'key.path': problem (fix)."""
    path = write(tmp_path, with_folder(watch="poll"))
    assert problems_of(path) == [
        f"{path}: at 'folders[0].watch': must be one of auto, events, polling, got 'poll' "
        "(use one of those words)"]


def test_unknown_keys_suggest_the_right_one(tmp_path: Path) -> None:
    """A misspelt key gets a 'did you mean', a key at the wrong level says where it belongs."""
    text = with_folder(recursiv="true") + "upload:\n  worker: 3\nparallel_parts: 2\nfoo: 1\n"
    found = problems_of(write(tmp_path, text))
    assert any(p.endswith("at 'upload.worker': unknown key (did you mean 'workers'?)")
               for p in found)
    assert any(p.endswith("at 'parallel_parts': unknown key (it belongs under 'upload')")
               for p in found)
    assert any(p.endswith("at 'folders[0].recursiv': unknown key (did you mean 'recursive'?)")
               for p in found)
    (foo,) = [p for p in found if "'foo'" in p]
    assert "unknown key (remove it; known keys here: vod, state_dir," in foo


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    """Wrong types, negative numbers and bad words all appear in one ConfigError."""
    text = with_folder(watch="poll") + textwrap.dedent("""\
        settle_seconds: -1
        upload:
          workers: four
          parallel_parts: 2.5
          part_size_mb: true
          multipart_threshold_mb: 64
        retry:
          jitter: 2
          cap_seconds: .inf
        log:
          format: xml
          level: loud
        metrics:
          address: "9464"
        claims:
          instance_id: "a b"
        """)
    path = write(tmp_path, text)
    found = problems_of(path)
    assert all(p.startswith(f"{path}: at '") and p.endswith(")") for p in found)
    keys = [p.split("'")[1] for p in found]
    assert keys == ["settle_seconds", "upload.workers", "upload.parallel_parts",
                    "upload.part_size_mb", "upload.multipart_threshold_mb", "retry.cap_seconds",
                    "retry.jitter", "claims.instance_id", "metrics.address", "log.format",
                    "log.level", "folders[0].watch"]
    assert f"{path}: at 'settle_seconds': must be a number of at least 0, got -1 " \
           "(the default is 10; delete the line to use it)" in found
    assert any("'upload.workers': must be a whole number of at least 1, got 'four'" in p
               for p in found)
    assert any("'upload.multipart_threshold_mb': must be a whole number from 1 to 20, got 64"
               in p for p in found)


def test_missing_required_keys(tmp_path: Path) -> None:
    """vod.endpoint, vod.project_id, folders and each folder's inbox/done/failed are required."""
    path = write(tmp_path, "state_dir: /var/lib/vodwatch\n")
    keys = [p.split("'")[1] for p in problems_of(path)]
    assert keys == ["vod.endpoint", "vod.project_id", "folders"]
    path = write(tmp_path, MINIMAL.replace("    done: /srv/vod-drop/done\n", "")
                 .replace("    failed: /srv/vod-drop/failed\n", "    failed:\n"))
    assert [p.split("'")[1] for p in problems_of(path)] == ["folders[0].done", "folders[0].failed"]
    assert "missing required key (add it: where uploaded files go)" in problems_of(path)[0]


@pytest.mark.parametrize("folders", ["[]", "/srv/vod-drop/inbox", "[/srv/vod-drop/inbox]"])
def test_folders_must_be_a_list_of_mappings(tmp_path: Path, folders: str) -> None:
    """An empty folders list, a single path or a list of paths is reported at folders."""
    text = MINIMAL.split("folders:")[0] + f"folders: {folders}\n"
    (problem,) = problems_of(write(tmp_path, text))
    assert "at 'folders" in problem


@pytest.mark.parametrize("value", ["abc", PID + "0", PID[:-1] + "g", "12345"])
def test_project_id_must_be_32_hex(tmp_path: Path, value: str) -> None:
    """project_id must be exactly 32 hexadecimal characters."""
    path = write(tmp_path, MINIMAL.replace(PID, value))
    (problem,) = problems_of(path)
    assert "at 'vod.project_id': must be 32 hexadecimal characters" in problem


@pytest.mark.parametrize("value", ["vod.cn-north-4.myhuaweicloud.com", "ftp://vod.example",
                                   "https://", "https://h:port", "https://h/?x=1"])
def test_endpoint_must_be_an_http_url(tmp_path: Path, value: str) -> None:
    """The endpoint must be an http(s) URL with a host and without a query."""
    path = write(tmp_path, MINIMAL.replace("https://vod.cn-north-4.myhuaweicloud.com", value))
    (problem,) = problems_of(path)
    assert "at 'vod.endpoint': must be " in problem


def test_folder_paths_must_be_absolute_and_distinct(tmp_path: Path) -> None:
    """Relative folders, done/failed equal to the inbox, or to each other, are problems."""
    text = f"""\
        vod: {{endpoint: https://vod.example, project_id: {PID}}}
        folders:
          - {{inbox: drop/inbox, done: /srv/a/done, failed: /srv/a/failed}}
          - {{inbox: /srv/b/inbox, done: /srv/b/inbox/, failed: /srv/b/./inbox}}
          - {{inbox: /srv/c/inbox, done: /srv/c/out, failed: /srv/c/out}}
        """
    found = problems_of(write(tmp_path, text))
    assert [p.split(": at ")[1] for p in found] == [
        "'folders[0].inbox': must be an absolute path, got 'drop/inbox' "
        "(write the full path, starting with /)",
        "'folders[1].done': is the inbox itself (use a folder of its own, such as /srv/b/done)",
        "'folders[1].failed': is the inbox itself "
        "(use a folder of its own, such as /srv/b/failed)",
        "'folders[2].failed': is the same folder as done "
        "(keep failed files apart from uploaded ones)",
    ]


def test_two_folder_sets_cannot_share_an_inbox(tmp_path: Path) -> None:
    """The same inbox (after normalising the path) in two folder sets is a problem."""
    text = MINIMAL + ("  - inbox: /srv/vod-drop/x/../inbox/\n    done: /srv/d2\n"
                      "    failed: /srv/f2\n")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith("at 'folders[1].inbox': is also the inbox of folders[0] "
                            "(give each inbox to one folder set only)")


def test_done_inside_inbox_only_matters_when_recursive(tmp_path: Path) -> None:
    """done/ inside the inbox is fine unless sub-folders are watched too."""
    text = MINIMAL.replace("/srv/vod-drop/done", "/srv/vod-drop/inbox/done")
    assert load_config(write(tmp_path, text), ENV).folders[0].done == Path(
        "/srv/vod-drop/inbox/done")
    (problem,) = problems_of(write(tmp_path, text + "    recursive: true\n"))
    assert "at 'folders[0].done': is inside an inbox that is watched recursively" in problem


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    """state_dir and other non-folder paths given relative are taken from the config's folder."""
    path = write(tmp_path, MINIMAL + "state_dir: state\n")
    assert load_config(path, ENV).state_dir == tmp_path / "state"


def test_ca_bundle_must_exist(tmp_path: Path) -> None:
    """A CA bundle path is checked when the config is loaded, not at the first upload."""
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    text = MINIMAL.replace("vod:\n", "vod:\n  ca_bundle: ca.pem\n")
    assert load_config(write(tmp_path, text), ENV).vod.ca_bundle == bundle
    bundle.unlink()
    (problem,) = problems_of(tmp_path / "config.yaml")
    assert problem.endswith(f"at 'vod.ca_bundle': {bundle} is not a file "
                            "(give the path of an existing file, or null)")


def test_choices_ignore_case_and_metrics_address_forms(tmp_path: Path) -> None:
    """Log words are accepted in any case; host:port accepts names, IPv4 and bracketed IPv6."""
    for address in ("127.0.0.1:9464", "localhost:0", "[::1]:9464"):
        text = MINIMAL + f"log: {{level: DEBUG, format: Json}}\nmetrics: {{address: '{address}'}}\n"
        config = load_config(write(tmp_path, text), ENV)
        assert (config.log.level, config.log.format) == ("debug", "json")
        assert config.metrics.address == address
    for address in ("9464", "host:", ":9464", "host:99999", "host:http"):
        text = MINIMAL + f"metrics: {{address: '{address}'}}\n"
        (problem,) = problems_of(write(tmp_path, text))
        assert "at 'metrics.address': must be host:port" in problem


def test_language_map_merges_over_defaults(tmp_path: Path) -> None:
    """Given codes are lower-cased and merged over en/zh/cn; bad entries are problems."""
    path = write(tmp_path, MINIMAL + "language_map: {FR: FR, zh: ZH}\n")
    assert dict(load_config(path, ENV).language_map) == {"en": "EN", "zh": "ZH", "cn": "CN",
                                                         "fr": "FR"}
    for bad in ("{fr: ''}", "{fr: 3}", "{'f r': FR}", "{En: A, en: B}", "[en]"):
        (problem,) = problems_of(write(tmp_path, MINIMAL + f"language_map: {bad}\n"))
        assert "at 'language_map'" in problem


def test_retry_cap_must_not_be_below_base(tmp_path: Path) -> None:
    """A retry cap shorter than the first delay is a problem."""
    path = write(tmp_path, MINIMAL + "retry: {base_seconds: 10, cap_seconds: 5}\n")
    (problem,) = problems_of(path)
    assert "at 'retry.cap_seconds': is smaller than retry.base_seconds" in problem


def test_sections_must_be_mappings_but_may_be_empty(tmp_path: Path) -> None:
    """A section with all keys commented out means defaults; a section that is a word is wrong."""
    assert load_config(write(tmp_path, MINIMAL + "upload:\nlimits:\n"), ENV).upload.workers == 4
    (problem,) = problems_of(write(tmp_path, MINIMAL + "upload: fast\n"))
    assert "at 'upload': must be a mapping of keys, got 'fast'" in problem


def test_credentials_from_the_environment(tmp_path: Path) -> None:
    """Without key files the AK/SK come from HUAWEICLOUD_SDK_AK/SK."""
    config = load_config(write(tmp_path, MINIMAL), ENV)
    assert config.credentials == Credentials(ak="AKEXAMPLE", sk="sk-example-secret")


def test_missing_credentials_say_how_to_provide_them(tmp_path: Path) -> None:
    """No AK/SK anywhere is one problem at 'vod' naming the variables and the keys."""
    path = write(tmp_path, MINIMAL)
    assert problems_of(path, {}) == [
        f"{path}: at 'vod': no access key or secret key: HUAWEICLOUD_SDK_AK and "
        "HUAWEICLOUD_SDK_SK are not set and vod.ak_file/vod.sk_file are not given "
        "(set HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK, or vod.ak_file/vod.sk_file)"]
    (problem,) = problems_of(path, {"HUAWEICLOUD_SDK_AK": "AK", "HUAWEICLOUD_SDK_SK": " "})
    assert "at 'vod': no secret key: HUAWEICLOUD_SDK_SK is not set" in problem


def test_credentials_are_optional_when_not_needed(tmp_path: Path) -> None:
    """need_credentials=False loads without AK/SK and leaves credentials empty."""
    config = load_config(write(tmp_path, MINIMAL), {}, need_credentials=False)
    assert config.credentials is None


def key_file(tmp_path: Path, name: str, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_credentials_from_files_are_stripped(tmp_path: Path) -> None:
    """ak_file/sk_file are read, stripped, and preferred over the environment."""
    key_file(tmp_path, "ak", "AKFROMFILE\n", 0o644)
    key_file(tmp_path, "sk", "  sk-from-file\n")
    text = MINIMAL.replace("vod:\n", "vod:\n  ak_file: ak\n  sk_file: ${CREDS}/sk\n")
    config = load_config(write(tmp_path, text), {**ENV, "CREDS": str(tmp_path)})
    assert config.credentials == Credentials("AKFROMFILE", "sk-from-file")
    assert config.vod.sk_file == tmp_path / "sk"


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_sk_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    """An SK file that group or others can read is refused with the chmod that fixes it."""
    sk = key_file(tmp_path, "sk", "sk-from-file", mode)
    path = write(tmp_path, MINIMAL.replace("vod:\n", f"vod:\n  sk_file: {sk}\n"))
    assert problems_of(path) == [
        f"{path}: at 'vod.sk_file': {sk} is readable by other users (run: chmod 600 {sk})"]


def test_unreadable_or_empty_key_files_name_the_key(tmp_path: Path) -> None:
    """A missing AK file and an empty SK file are each reported at their own key."""
    sk = key_file(tmp_path, "sk", "\n")
    text = MINIMAL.replace("vod:\n", f"vod:\n  ak_file: /nonexistent/ak\n  sk_file: {sk}\n")
    path = write(tmp_path, text)
    assert problems_of(path) == [
        f"{path}: at 'vod.ak_file': cannot read /nonexistent/ak: No such file or directory "
        "(check the path, and that vodwatch's user may read the file)",
        f"{path}: at 'vod.sk_file': {sk} is empty (write the key alone in it)"]


def test_credential_problems_join_schema_problems(tmp_path: Path) -> None:
    """Credential problems come in the same ConfigError as the other problems."""
    path = write(tmp_path, MINIMAL + "settle_seconds: soon\n")
    keys = [p.split("'")[1] for p in problems_of(path, {})]
    assert keys == ["settle_seconds", "vod"]


def test_load_credentials_alone(tmp_path: Path) -> None:
    """load_credentials reads files or env for given settings and raises ConfigError otherwise."""
    vod = load_config(write(tmp_path, MINIMAL), {}, need_credentials=False).vod
    source = tmp_path / "config.yaml"
    assert load_credentials(vod, ENV, source) == Credentials("AKEXAMPLE", "sk-example-secret")
    with pytest.raises(ConfigError) as caught:
        load_credentials(dataclasses.replace(vod, sk_file=tmp_path / "missing"), ENV, source)
    assert caught.value.problems[0].startswith(f"{source}: at 'vod.sk_file': cannot read")
    assert isinstance(vod, VodSettings)


def test_secret_key_never_shows_in_repr(tmp_path: Path) -> None:
    """Neither Credentials nor the whole Config show the SK when printed."""
    config = load_config(write(tmp_path, MINIMAL), ENV)
    assert config.credentials is not None
    for text in (repr(config.credentials), str(config.credentials), repr(config), str(config)):
        assert "sk-example-secret" not in text
    assert "AKEXAMPLE" in repr(config.credentials)


def test_loaded_secret_key_is_redacted_from_logs(tmp_path: Path) -> None:
    """Loading the credentials registers the SK, so log redaction knows it without being told."""
    env = {**ENV, "HUAWEICLOUD_SDK_SK": "sk-registered-by-load-9d3e"}
    load_config(write(tmp_path, MINIMAL), env)
    assert redact("header sk-registered-by-load-9d3e") == "header REDACTED"


def test_default_config_path() -> None:
    """$VODWATCH_CONFIG wins when set and not empty, else /etc/vodwatch/config.yaml."""
    assert default_config_path({"VODWATCH_CONFIG": "/tmp/c.yaml"}) == Path("/tmp/c.yaml")
    assert default_config_path({"VODWATCH_CONFIG": ""}) == DEFAULT_CONFIG_PATH
    assert default_config_path({}) == Path("/etc/vodwatch/config.yaml")


def test_config_error_text_lists_every_problem(tmp_path: Path) -> None:
    """str(ConfigError) is one problem per line, ready to print."""
    path = write(tmp_path, MINIMAL + "settle_seconds: -1\nrescan_seconds: 0\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, ENV)
    assert str(caught.value).splitlines() == caught.value.problems
    assert len(caught.value.problems) == 2


def test_schema_keys_are_documented_and_unique() -> None:
    """Every schema key has a description and appears once."""
    paths = [key.path for key in SCHEMA]
    assert len(paths) == len(set(paths))
    assert all(key.doc.strip() for key in SCHEMA)


def test_every_key_reaches_the_settings(tmp_path: Path) -> None:
    """Each schema key outside folders is an attribute of Config, its default when not given."""
    config = load_config(write(tmp_path, MINIMAL), ENV)
    for key in SCHEMA:
        if key.container == "folders[]":
            continue  # FolderSet resolves them; see test_minimal_config_gets_every_default
        value: object = config
        for part in key.path.split("."):
            value = getattr(value, part)
        if key.default is not None and key.default is not REQUIRED:
            assert value == default_of(key, Path("/")), key.path


def test_config_is_read_as_utf8(tmp_path: Path) -> None:
    """A file that is not UTF-8 gets one problem rather than a traceback."""
    path = tmp_path / "config.yaml"
    path.write_bytes(MINIMAL.encode() + b"# caf\xe9\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}: the config file is not UTF-8 text")


def test_keys_written_in_a_private_config_are_used(tmp_path: Path) -> None:
    """vod.ak / vod.sk in a mode-600 config file win over the environment."""
    path = write(tmp_path, with_folder().replace(
        "vod:\n", "vod:\n  ak: INLINEAK\n  sk: inline-secret-key\n", 1))
    path.chmod(0o600)
    config = load_config(path, {"HUAWEICLOUD_SDK_AK": "ENVAK", "HUAWEICLOUD_SDK_SK": "envsk"})
    assert config.credentials is not None
    assert (config.credentials.ak, config.credentials.sk) == ("INLINEAK", "inline-secret-key")
    assert "inline-secret-key" not in repr(config)
    assert redact("inline-secret-key") != "inline-secret-key"


def test_a_config_holding_the_sk_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A config file with the SK in it that others can read is refused with the chmod fix."""
    path = write(tmp_path, with_folder().replace(
        "vod:\n", "vod:\n  ak: INLINEAK\n  sk: inline-secret-key\n", 1))
    path.chmod(0o644)
    problems = problems_of(path, {})
    assert problems == [f"{path}: at 'vod.sk': {path} holds the secret key and is readable "
                        f"by other users (run: chmod 600 {path})"]


def test_an_sk_taken_from_the_environment_needs_no_private_config(tmp_path: Path) -> None:
    """`sk: ${VAR}` keeps the secret out of the file, so the file may stay readable."""
    path = write(tmp_path, with_folder().replace(
        "vod:\n", "vod:\n  ak: INLINEAK\n  sk: ${MY_SK}\n", 1))
    path.chmod(0o644)
    config = load_config(path, {"MY_SK": "from-env-secret"})
    assert config.credentials is not None and config.credentials.sk == "from-env-secret"


# --- name, status_file, notify, notify_deliveries -----------------------------------


def test_name_sets_the_label_and_leaves_the_journal_key(tmp_path: Path) -> None:
    """A configured name is the label people see; FolderSet.name stays the inbox path."""
    (folder,) = load_config(write(tmp_path, with_folder(name="' News '")), ENV).folders
    assert folder.label == "News"
    assert folder.name == "/srv/vod-drop/inbox"


@pytest.mark.parametrize(("inbox", "label"), [
    ("/srv/vod-drop/inbox", "vod-drop/inbox"),
    ("/srv/share/Promos", "Promos"),
    ("/inbox", "inbox"),
])
def test_default_label_comes_from_the_inbox_path(tmp_path: Path, inbox: str, label: str) -> None:
    """Without a name the inbox's own name is shown, with its parent's when it is just "inbox"."""
    text = MINIMAL.replace("/srv/vod-drop/inbox", inbox)
    assert load_config(write(tmp_path, text), ENV).folders[0].label == label
    assert FolderSet(Path(inbox), Path("/d"), Path("/f"), "https://e", PID, "auto",
                     False).label == label


@pytest.mark.parametrize(("value", "problem"), [
    ("''", "must be a name, got ''"),
    ('"a\\x1bb"', "must not hold control characters"),
    ("[news]", "must be a name, got a list"),
    ("'" + "n" * 65 + "'", "must be at most 64 characters, got 65"),
])
def test_bad_names_are_refused(tmp_path: Path, value: str, problem: str) -> None:
    """A name must be short printable text."""
    (found,) = problems_of(write(tmp_path, with_folder(name=value)))
    assert f"at 'folders[0].name': {problem}" in found


def test_two_folder_sets_cannot_share_a_name(tmp_path: Path) -> None:
    """Names tell folder sets apart, so two may not have the same one, in any case."""
    text = with_folder(name="news") + (
        "  - {inbox: /srv/b/inbox, done: /srv/b/done, failed: /srv/b/failed, name: NEWS}\n")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith("at 'folders[1].name': is also the name of folders[0] (give each "
                            "folder set a name of its own (names are not case-sensitive))")


def test_status_file_may_be_moved_or_turned_off(tmp_path: Path) -> None:
    """status_file takes an absolute path; "" turns the status page off."""
    path = write(tmp_path, with_folder(status_file="'/srv/vod-drop/STATUS.txt'"))
    assert load_config(path, ENV).folders[0].status_file == Path("/srv/vod-drop/STATUS.txt")
    path = write(tmp_path, with_folder(status_file="''"))
    assert load_config(path, ENV).folders[0].status_file is None
    (problem,) = problems_of(write(tmp_path, with_folder(status_file="status.txt")))
    assert "at 'folders[0].status_file': must be an absolute path, got 'status.txt'" in problem


@pytest.mark.parametrize("role", ["inbox", "done", "failed"])
def test_status_file_must_stay_out_of_the_editors_folders(tmp_path: Path, role: str) -> None:
    """A status page inside inbox, done or failed is refused, naming the key and the fix."""
    path = write(tmp_path, with_folder(status_file=f"/srv/vod-drop/{role}/status.txt"))
    (problem,) = problems_of(path)
    assert problem.endswith(
        f"at 'folders[0].status_file': is inside {role} /srv/vod-drop/{role}, where editors' "
        "files go (put it beside the inbox, e.g. /srv/vod-drop/inbox status.txt, or write \"\" "
        "for none)")


def test_a_default_status_file_inside_done_is_refused(tmp_path: Path) -> None:
    """When done/ holds the inbox's parent, the default status page would land in it: a problem."""
    text = MINIMAL.replace("/srv/vod-drop/done", "/srv").replace(
        "/srv/vod-drop/inbox", "/srv/inbox")
    (problem,) = problems_of(write(tmp_path, text))
    assert "at 'folders[0].status_file': is not given, and its default /srv/inbox status.txt " \
           "would be inside done /srv (set status_file to a path outside" in problem
    assert load_config(write(tmp_path, text + "    status_file: ''\n"), ENV).folders


def _two_sets(tmp_path: Path, one: str = "", two: str = "") -> str:
    """Two folder sets on real folders under ``tmp_path`` (extra keys as YAML lines)."""
    for d in ("a/inbox", "a/done", "a/failed", "b/inbox", "b/done", "b/failed"):
        (tmp_path / d).mkdir(parents=True)
    return (f"vod:\n  endpoint: https://vod.example\n  project_id: {PID}\nfolders:\n"
            f"  - inbox: {tmp_path}/a/inbox\n    done: {tmp_path}/a/done\n"
            f"    failed: {tmp_path}/a/failed\n{one}"
            f"  - inbox: {tmp_path}/b/inbox\n    done: {tmp_path}/b/done\n"
            f"    failed: {tmp_path}/b/failed\n{two}")


def test_a_status_file_reaching_into_the_inbox_through_a_link_is_refused(tmp_path: Path) -> None:
    """The page's folder is resolved through symbolic links before it is checked."""
    text = _two_sets(tmp_path, one=f"    status_file: {tmp_path}/view/status.txt\n")
    (tmp_path / "view").symlink_to(tmp_path / "a" / "inbox")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith(
        f"at 'folders[0].status_file': is inside inbox {tmp_path}/a/inbox (its folder "
        f"{tmp_path}/view leads there through a symbolic link), where editors' files go "
        f"(put it beside the inbox, e.g. {tmp_path}/a/inbox status.txt, or write \"\" for none)")


@pytest.mark.parametrize("role", ["inbox", "done", "failed"])
def test_a_status_file_inside_another_folder_sets_folders_is_refused(tmp_path: Path,
                                                                      role: str) -> None:
    """A page in another folder set's inbox, done or failed is refused, naming that set."""
    text = _two_sets(tmp_path, two=f"    status_file: {tmp_path}/a/{role}/b.txt\n")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith(
        f"at 'folders[1].status_file': is inside {role} {tmp_path}/a/{role} of folders[0], "
        f"where editors' files go (put it beside the inbox, e.g. {tmp_path}/b/inbox status.txt, "
        "or write \"\" for none)")


def test_two_folder_sets_may_not_share_a_status_file(tmp_path: Path) -> None:
    """One page for two folder sets is refused (also through a link): each would overwrite
    the other's; "" on both, or pages of their own, are fine."""
    (tmp_path / "pages").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "pages")
    text = _two_sets(tmp_path, one=f"    status_file: {tmp_path}/pages/s.txt\n",
                     two=f"    status_file: {tmp_path}/link/s.txt\n")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith(
        "at 'folders[1].status_file': is also the status_file of folders[0]: each folder set "
        f"would overwrite the other's page (give each folder set a page of its own, e.g. "
        f"{tmp_path}/b/inbox status.txt, or write \"\" for none)")
    fine = text.replace(f"{tmp_path}/link/s.txt", f"{tmp_path}/pages/t.txt")
    assert len(load_config(write(tmp_path, fine), ENV).folders) == 2
    off = text.replace(f"{tmp_path}/link/s.txt", "''").replace(f"{tmp_path}/pages/s.txt", "''")
    assert [f.status_file for f in load_config(write(tmp_path, off), ENV).folders] == [None, None]


def test_notify_takes_json_urls_without_the_extra(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """json:// and jsons:// targets load without apprise; duplicates are kept once."""
    monkeypatch.setitem(sys.modules, "apprise", None)  # as if not installed
    text = with_folder(notify="[json://hooks.example.com/a, 'jsons://h.example:8443/b?+X-K=v', "
                       "json://hooks.example.com/a]", notify_deliveries="true")
    (folder,) = load_config(write(tmp_path, text), ENV).folders
    assert folder.notify == ("json://hooks.example.com/a", "jsons://h.example:8443/b?+X-K=v")
    assert folder.notify_deliveries is True


def test_notify_urls_may_come_from_the_environment_and_are_secret(tmp_path: Path) -> None:
    """A token given by ${VAR} works, and the whole URL is redacted from logs from then on."""
    text = with_folder(notify="['json://hooks.example.com/${HOOK}']")
    env = {**ENV, "HOOK": "hook-token-123456"}
    (folder,) = load_config(write(tmp_path, text), env).folders
    assert folder.notify == ("json://hooks.example.com/hook-token-123456",)
    assert "hook-token-123456" not in redact("posting to /hook-token-123456 failed")


def test_other_schemes_need_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without apprise, a slack:// target is a problem naming the key and how to install it,
    without showing the URL's tokens."""
    monkeypatch.setitem(sys.modules, "apprise", None)
    text = with_folder(notify="[json://ok.example/x, slack://TTTTTTT/BBBBBBB/SECRETSECRET]")
    (problem,) = problems_of(write(tmp_path, text))
    assert problem.endswith(
        "at 'folders[0].notify': entry 2 slack://… needs apprise, the optional notifications "
        "extra, which is not installed (run pip install 'vodwatch[notify]', or use a json:// "
        "webhook)")
    assert "SECRET" not in problem


@pytest.mark.parametrize(("value", "problem"), [
    ("json://hooks.example.com/x", "must be a list of URLs, got 'json://hooks.example.com/…'"),
    ("{url: 'json://h.example'}", "must be a list of URLs"),
    ("[hooks.example.com/x]", "entry 1 has no scheme (such as json:// or slack://)"),
    ("['json:///x']", "entry 1 json:///… has no host"),
    ("[3]", "entry 1 is not a URL"),
    ("[yes]", "entry 1 has no scheme"),
])
def test_bad_notify_values_are_refused(tmp_path: Path, value: str, problem: str) -> None:
    """notify must be a list of URLs, each with a scheme, and a host for json://."""
    (found,) = problems_of(write(tmp_path, with_folder(notify=value)))
    assert f"at 'folders[0].notify': {problem}" in found


def test_notify_deliveries_must_be_a_boolean(tmp_path: Path) -> None:
    """notify_deliveries is true or false, like every switch."""
    (problem,) = problems_of(write(tmp_path, with_folder(notify_deliveries="yes")))
    assert "at 'folders[0].notify_deliveries': must be true or false, got 'yes'" in problem


def test_a_folder_set_carries_every_folders_key_written_once() -> None:
    """model.FolderSet is a folders[] entry resolved: it has a field for every key of the
    schema's entry (name becomes label), and the loader copies all but the resolved ones
    by name, so a key added to the schema cannot be forgotten on the way."""
    import dataclasses

    from vodwatch.config.load import RESOLVED_FOLDER_FIELDS
    from vodwatch.config.model import FolderSet
    from vodwatch.config.schema import FolderEntry

    entry = {f.name for f in dataclasses.fields(FolderEntry)}
    folder_set = {f.name for f in dataclasses.fields(FolderSet)}
    assert folder_set == (entry - {"name"}) | {"label"}
    assert folder_set >= RESOLVED_FOLDER_FIELDS
