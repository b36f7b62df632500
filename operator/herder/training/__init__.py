"""What runs inside Herder's pods for the data half of the lifecycle: `herder validate` and `herder train`.

One JSON request in (``requests``), result files and a termination message out (``results``, ``cli``). The
operator imports only the light modules from here -- ``requests``, ``results``, ``estimators`` (the allowlist
and trusted types, without importing scikit-learn) -- and never the ones that load data or fit models.
"""
