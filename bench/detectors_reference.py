"""The numpy / scikit-learn / PyTorch side of `npm run bench:detectors -- --reference`.

Reads what bench/detectors.ts wrote into DIR (float32 features and logits of the ID training set
and of test samples, the final layer's W [d, K] in tfjs layout and b, the ID-train labels, and
meta.json with the detectors' parameters), computes each detector the way the reference code
bases do (OpenOOD's postprocessors and the authors' ViM code, written here independently),
writes DIR/<name>.f64, and prints one JSON line with the time each took.
"""
import json
import sys
import time

import numpy as np
import torch
from numpy.linalg import norm, pinv
from scipy.special import logsumexp, softmax
from sklearn.covariance import EmpiricalCovariance

d = sys.argv[1]
meta = json.load(open(f'{d}/meta.json'))
n_train, n_test, dim, k = meta['n_train'], meta['n_test'], meta['d'], meta['k']


def f32(name, shape):
    return np.fromfile(f'{d}/{name}.f32', dtype=np.float32).reshape(shape).astype(np.float64)


z_train, f_train = f32('train_features', (n_train, dim)), f32('train_logits', (n_train, k))
z_test, f_test = f32('test_features', (n_test, dim)), f32('test_logits', (n_test, k))
w, b = f32('weight', (dim, k)), f32('bias', (k,))
y_train = np.fromfile(f'{d}/train_labels.i32', dtype=np.int32)
out, seconds = {}, {}


def timed(name, fn):
    t = time.perf_counter()
    out[name] = np.asarray(fn(), dtype=np.float64)
    seconds[name] = time.perf_counter() - t


timed('energy', lambda: logsumexp(f_test, axis=-1))
timed('msp', lambda: softmax(f_test, axis=-1).max(axis=-1))
timed('maxlogit', lambda: f_test.max(axis=-1))


def mahalanobis():
    means = np.stack([z_train[y_train == c].mean(axis=0) for c in range(k)])
    cov = EmpiricalCovariance(assume_centered=True).fit(z_train - means[y_train]).covariance_
    precision = pinv(cov, rcond=1e-10, hermitian=True)
    dist = np.stack([np.einsum('ij,jk,ik->i', z_test - m, precision, z_test - m) for m in means], axis=1)
    return (-dist).max(axis=1)


timed('mahalanobis', mahalanobis)


def knn():
    unit = lambda x: x / (norm(x, axis=-1, keepdims=True) + 1e-10)
    bank, q = unit(z_train), unit(z_test)
    scores = np.empty(n_test)
    for s in range(0, n_test, 500):
        dist = np.sqrt(np.maximum(((q[s:s + 500, None, :] - bank[None, :, :]) ** 2).sum(-1), 0))
        scores[s:s + 500] = -np.sort(dist, axis=1)[:, meta['knn_k'] - 1]
    return scores


timed('knn', knn)


def vim():
    u = -np.matmul(pinv(w.T), b)
    ec = EmpiricalCovariance(assume_centered=True).fit(z_train - u)
    eig_vals, eigen_vectors = np.linalg.eig(ec.covariance_)
    ns = np.ascontiguousarray((eigen_vectors.T[np.argsort(eig_vals * -1)[meta['vim_dim']:]]).T).real
    alpha = f_train.max(axis=-1).mean() / norm(np.matmul(z_train - u, ns), axis=-1).mean()
    return logsumexp(f_test, axis=-1) - alpha * norm(np.matmul(z_test - u, ns), axis=-1)


timed('vim', vim)


def react():
    c = np.percentile(z_train.flatten(), meta['react_percentile'])
    return logsumexp(np.minimum(z_test, c) @ w + b, axis=-1)


timed('react', react)


def gradnorm():
    fc = torch.nn.Linear(dim, k).double()
    fc.weight.data, fc.bias.data = torch.from_numpy(w.T.copy()), torch.from_numpy(b.copy())
    scores = np.empty(n_test)
    for i in range(n_test):
        fc.zero_grad()
        logp = torch.log_softmax(fc(torch.from_numpy(z_test[i:i + 1])), dim=-1)
        (torch.full((1, k), 1.0 / k, dtype=torch.float64) * (np.log(1.0 / k) - logp)).sum().backward()
        scores[i] = fc.weight.grad.abs().sum().item()
    return scores


timed('gradnorm', gradnorm)

for name, values in out.items():
    values.tofile(f'{d}/{name}.f64')
print(json.dumps({'seconds': seconds}))
