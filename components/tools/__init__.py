"""Logic behind the operational commands, without argparse or rich: the capacity planner
(``capacity``), the account preflight (``preflight``) and the vector collections
(``vectors``). ``aiplat.cli`` parses and renders; these compute and return."""
