"""The domain of Release Warden: everything that decides, one package per concern."""
