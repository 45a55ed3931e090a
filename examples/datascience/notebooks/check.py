"""A smoke test of the environment: python3 /home/user/notebooks/check.py"""
import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

x = np.arange(10.0).reshape(-1, 1)
y = 3.0 * x.ravel() + 1.0
model = LinearRegression().fit(x, y)
frame = pd.DataFrame({"x": x.ravel(), "y": y})
print(f"pandas {pd.__version__}, rows={len(frame)}, slope={model.coef_[0]:.2f}")
