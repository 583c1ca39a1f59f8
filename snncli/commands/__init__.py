"""Commands as library functions: each takes a typed request and returns a result that
carries its own verdict; :mod:`snncli.cli` only parses flags into requests and prints
results.  Nothing here sees an argparse namespace.

* :mod:`~snncli.commands.train` -- train (and fine-tune) a run;
* :mod:`~snncli.commands.export` -- a run or a ``.nir`` file -> a target's artifact;
* :mod:`~snncli.commands.simulate` -- a graph or Program through hwsim;
* :mod:`~snncli.commands.parity` -- torch vs hwsim vs the vendor's simulator;
* :mod:`~snncli.commands.report` -- energy report from a simulation result;
* :mod:`~snncli.commands.doctor` -- what this machine has.

Shared: :class:`~snncli.commands.run.Run` (a run directory opened once),
:mod:`~snncli.commands.network` (a graph or Program opened with its recorded physics),
:class:`~snncli.commands.console.Console` (warnings, notes and progress).
"""
