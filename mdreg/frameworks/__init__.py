"""Framework plugins: the registry, the plugin interface, and one module per built-in framework."""
