"""The pure order domain: rules, status moves and events as data. Imports no framework."""
