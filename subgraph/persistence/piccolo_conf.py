"""Piccolo's configuration for the package: the engine from the environment and our one app."""

from piccolo.conf.apps import AppRegistry

from subgraph.persistence.engine import make_engine
from subgraph.settings import get_settings

DB = make_engine(get_settings())

APP_REGISTRY = AppRegistry(apps=["subgraph.persistence.piccolo_app"])
