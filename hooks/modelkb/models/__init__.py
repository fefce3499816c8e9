"""What feeds a network: the weights (``weights``) and the loaded networks (``networks``)."""
