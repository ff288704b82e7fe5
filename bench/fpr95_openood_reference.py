"""Adds OpenOOD's FPR95 to each case of test/fixtures/ood-metrics-reference.json.

OpenOOD's evaluator (openood/evaluators/metrics.py, fpr_recall): the threshold is the
floor(0.95 * n_id)-th highest ID score and the FPR counts the OOD scores >= it. Written
independently here with numpy, so the fixture checks grodd's `fpr95: openood` against it:

    /usr/bin/python3 bench/fpr95_openood_reference.py
"""
import json
import os

import numpy as np

FIXTURE = os.path.join(os.path.dirname(__file__), '..', 'test', 'fixtures', 'ood-metrics-reference.json')


def fpr_recall(ind_conf, ood_conf, tpr=0.95):
    recall_num = int(np.floor(tpr * len(ind_conf)))
    thresh = np.sort(ind_conf)[-recall_num]
    return float(np.sum(ood_conf >= thresh) / len(ood_conf))


with open(FIXTURE) as f:
    data = json.load(f)
for case in data['cases']:
    case['fpr95_openood'] = fpr_recall(np.array(case['id_scores']), np.array(case['ood_scores']))
with open(FIXTURE, 'w') as f:
    json.dump(data, f, indent=0)
    f.write('\n')
differ = sum(c['fpr95'] != c['fpr95_openood'] for c in data['cases'])
print(f'{len(data["cases"])} cases; the two FPR95 conventions differ on {differ}')
