"""`tsq ui` and `tsq report`: the sweeps as a web page (optional extra: `pip install 'tsq[ui]'`).

Nothing else in tsq imports this package: the server is the standard library's, and the charts'
JavaScript comes from the `plotly` package, which only these commands need.
"""
