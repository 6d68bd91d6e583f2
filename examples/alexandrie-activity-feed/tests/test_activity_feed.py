"""The feed through the registry's API, page and command line, with Alexandrie's testing kit."""

import json
import threading

import pytest
from click.testing import CliRunner

import alexandrie_activity_feed
from alexandrie import ConfigError
from alexandrie import registry as registry_of
from alexandrie.testing import create_user_with_token, main, publish


@pytest.fixture
def registry(make_app, tmp_path):
    feed = tmp_path / "feed" / "activity.jsonl"
    app = make_app(plugins=[alexandrie_activity_feed], plugin_config={"activity-feed": {"path": str(feed)}})
    return app, feed, create_user_with_token(app, "alice")


def lines(feed) -> list[dict]:
    return [json.loads(line) for line in feed.read_text().splitlines()]


def test_each_committed_change_appends_one_line(registry):
    app, feed, token = registry
    client = app.test_client()
    assert publish(app.test_client(), token, "fed").status_code == 200
    assert publish(app.test_client(), token, "fed").status_code == 409  # a refused publish writes nothing
    assert client.delete("/api/v1/crates/fed/0.1.0/yank", headers={"Authorization": token}).status_code == 200
    entries = lines(feed)
    assert [(e["event"], e["crate"], e["version"], e["actor"]) for e in entries] == \
        [("publish", "fed", "0.1.0", "alice"), ("yank", "fed", "0.1.0", "alice")]
    assert entries[0]["new_crate"] is True and len(entries[0]["cksum"]) == 64


def test_the_feed_is_append_only_under_concurrency(registry):
    app, feed, token = registry
    feed.write_text('{"event":"earlier"}\n')
    threads = [threading.Thread(target=publish, args=(app.test_client(), token, f"many{n}")) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = lines(feed)
    assert entries[0] == {"event": "earlier"}
    assert sorted(e["crate"] for e in entries[1:]) == [f"many{n}" for n in range(8)]


def test_only_the_chosen_events_are_written(make_app, tmp_path):
    feed = tmp_path / "yanks.jsonl"
    app = make_app(plugins=[alexandrie_activity_feed],
                   plugin_config={"activity-feed": {"path": str(feed), "events": ["yank"]}})
    token = create_user_with_token(app, "alice")
    publish(app.test_client(), token, "picky")
    assert not feed.exists()
    app.test_client().delete("/api/v1/crates/picky/0.1.0/yank", headers={"Authorization": token})
    assert [e["event"] for e in lines(feed)] == ["yank"]


def test_the_page_and_json_show_the_latest_events(registry):
    app, feed, token = registry
    publish(app.test_client(), token, "second")
    client = app.test_client()
    assert [e["crate"] for e in client.get("/-/activity/", headers={"Accept": "application/json"})
            .get_json()["events"]] == ["second"]
    html = client.get("/-/activity/").get_data(as_text=True)
    assert "<strong>publish</strong> second 0.1.0" in html and "Recent activity" in html


def test_the_tail_command(registry, tmp_path):
    app, feed, token = registry
    publish(app.test_client(), token, "tailed")
    config = tmp_path / "alexandrie.toml"
    config.write_text(f'[database]\nurl = "{registry_of(app).settings.database.url}"\n'
                      f'[storage]\npath = "{tmp_path / "crates"}"\n'
                      f'[plugins.activity-feed]\npath = "{feed}"\n')
    result = CliRunner().invoke(main, ["--config", str(config), "activity", "tail", "-n", "5"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["crate"] == "tailed"


def test_the_feed_is_off_without_a_path(make_app, tmp_path):
    app = make_app(plugins=[alexandrie_activity_feed])
    assert publish(app.test_client(), create_user_with_token(app, "alice"), "unrecorded").status_code == 200
    assert alexandrie_activity_feed.feed_of(app) is None


def test_a_bad_configuration_stops_the_registry_at_start_up(make_app):
    with pytest.raises(ConfigError, match="events: write a list"):
        make_app(plugins=[alexandrie_activity_feed],
                 plugin_config={"activity-feed": {"path": "x.jsonl", "events": "publish"}})
