from django.apps import AppConfig


class ShellConfig(AppConfig):
    """The shell as an installed app, for one thing only: putting the token redaction on the
    server loggers at start-up (gunicorn configures its own loggers before the app loads)."""

    name = "config"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 13
    label = "shell"

    def ready(self) -> None:
        from config.logging import install_on_server_loggers

        install_on_server_loggers()
