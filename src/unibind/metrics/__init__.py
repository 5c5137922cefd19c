"""Metrics shared by training, evaluation and the tasks: ranking (recall@k, mAP), information retrieval (nDCG,
MAP, recall over runs and qrels, checked against pytrec_eval) and classification (accuracy, macro-F1).

A leaf: it imports nothing else from unibind, so any layer may use it.
"""
