from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "demo"
    # Its floor in the house: it may import only rooms on lower floors (tests/test_layers.py).
    floor = 12
    verbose_name = "Demo data"
