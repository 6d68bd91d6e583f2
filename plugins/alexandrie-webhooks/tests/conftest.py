import pytest

import alexandrie_webhooks


@pytest.fixture
def make_app(make_app):
    """The kit loads no entry points: every registry of these tests gets the webhooks plugin explicitly."""
    def with_webhooks(plugins=(), **sections):
        return make_app(plugins=[alexandrie_webhooks, *plugins], **sections)
    return with_webhooks
